#!/usr/bin/perl
# Perl's Mail::DKIM::ARC::Verifier for integration/arc_test.go, asking the
# test's name server. Usage: arcverify.pl PORT FILE...; prints, per file,
# the result and its details ("pass", "fail (...)", "none").
use strict;
use warnings;
use Mail::DKIM::ARC::Verifier;
use Net::DNS;

my $port = shift or die "usage: $0 PORT FILE...\n";
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(
    nameservers => ['127.0.0.1'], port => $port,
    udp_timeout => 3, tcp_timeout => 3, retry => 1, recurse => 0));
for my $file (@ARGV) {
    open(my $fh, '<', $file) or die "$file: $!\n";
    my $arc = Mail::DKIM::ARC::Verifier->new();
    while (<$fh>) {
        s/\015?\012$//;
        $arc->PRINT("$_\015\012");
    }
    $arc->CLOSE;
    close $fh;
    print $arc->result_detail, "\n";
}
