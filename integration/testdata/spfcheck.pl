#!/usr/bin/perl
# The independent SPF implementation of integration/spf_test.go: Perl's
# Mail::SPF (Debian's libmail-spf-perl) with the settings MIMEDefang's
# md_spf_verify uses (max_dns_interactive_terms 20), asking the test's name
# server. Usage: spfcheck.pl PORT < cases; each case line is
# "SCOPE IDENTITY IP", each output line the result code and the number of
# DNS-interactive terms evaluated.
use strict;
use warnings;
use Mail::SPF;
use Net::DNS;

my $port = shift or die "usage: $0 PORT\n";
my $res = Net::DNS::Resolver->new(
    nameservers => ['127.0.0.1'], port => $port,
    udp_timeout => 2, tcp_timeout => 2, retry => 1, recurse => 0, defnames => 0, dnsrch => 0,
);
my $server = Mail::SPF::Server->new(max_dns_interactive_terms => 20, dns_resolver => $res);
while (my $line = <STDIN>) {
    chomp $line;
    my ($scope, $identity, $ip) = split / /, $line;
    my $req;
    my $code = eval {
        $req = Mail::SPF::Request->new(scope => $scope, identity => $identity, ip_address => $ip);
        $server->process($req)->code;
    };
    my $terms = defined $req ? ($req->state('dns_interactive_terms_count') // 0) : 0;
    print defined $code ? "$code $terms\n" : "error 0\n";
}
