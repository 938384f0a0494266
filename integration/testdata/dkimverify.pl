#!/usr/bin/perl
# Perl's Mail::DKIM verifier for integration/dkim_test.go, asking the
# test's name server. Usage: dkimverify.pl PORT FILE...; prints, per file,
# the result and the signing domain.
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Net::DNS;

my $port = shift or die "usage: $0 PORT FILE...\n";
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(
    nameservers => ['127.0.0.1'], port => $port,
    udp_timeout => 3, tcp_timeout => 3, retry => 1, recurse => 0));
for my $file (@ARGV) {
    open(my $fh, '<', $file) or die "$file: $!\n";
    my $dkim = Mail::DKIM::Verifier->new();
    while (<$fh>) {
        s/\015?\012$//;
        $dkim->PRINT("$_\015\012");
    }
    $dkim->CLOSE;
    close $fh;
    my $d = defined $dkim->signature ? $dkim->signature->domain : '-';
    print $dkim->result, " ", $d, "\n";
}
