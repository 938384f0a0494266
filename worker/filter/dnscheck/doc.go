// Package dnscheck is MIMEDefang's DNS functions (Mail::MIMEDefang::Net,
// docs/reference/filter-api.md §4.11): the DNS blocklist lookups
// (relay_is_blacklisted and its _multi, _multi_count and _multi_list forms,
// email_is_blacklisted), get_mx_ip_addresses, md_get_bogus_mx_hosts,
// get_ptr_record, md_get_dmarc_record, md_dns_txt, and the address helpers
// reverse_ip_address_for_rbl, expand_ipv6_address, is_public_ip4_address
// and is_public_ip6_address.
//
// Every query goes through one Resolver (github.com/miekg/dns), which asks
// the servers of Config.Servers, else of $MD_DNS_SERVERS
// (host:port[,host:port]), else of /etc/resolv.conf, with a timeout per
// query and the request's deadline over all, and caches each answer for
// the life of the Resolver (package filter makes one per request). Go's own
// resolver is not used: it cannot be pointed at a port other than 53, and
// it hides the response code a DNSBL answers with.
//
// Like every integration package it never imports package filter; what it
// needs from the request (the deadline, md_syslog) comes through the ctx
// argument and Config.
package dnscheck
