#!/usr/bin/perl
# Perl's ARC signer for integration/arc_test.go, for the byte comparison
# with md-worker's. Usage:
#   arcsign.pl signer FILE KEYFILE CHAIN DOMAIN SRVID SELECTOR TIMESTAMP [HEADERS]
#     Mail::DKIM::ARC::Signer (with that Timestamp) over FILE, read as
#     md_arc_sign reads INPUTMSG; prints JSON {result, details, fields}
#     (fields: as_strings, CR removed).
#   arcsign.pl mimedefang DIR TIME KEYFILE ALGORITHM CHAIN DOMAIN SRVID SELECTOR [HEADERS]
#     MIMEDefang's own md_arc_sign (Debian's Mail::MIMEDefang::DKIM::ARC)
#     on DIR/INPUTMSG, with Perl's time() fixed at TIME (md_arc_sign passes
#     no Timestamp); prints its hash as JSON, or null for nothing.
# An argument "-" is passed as undef.
use strict;
use warnings;

BEGIN {
    if ($ARGV[0] eq 'mimedefang') {
        my $t = $ARGV[2];
        no warnings 'once';
        *CORE::GLOBAL::time = sub () { $t };
    }
}
use JSON::PP;
use Mail::DKIM::ARC::Signer;
use Mail::DKIM::TextWrap;
use Mail::MIMEDefang;
use Mail::MIMEDefang::DKIM::ARC;

my $json = JSON::PP->new->canonical;
my $mode = shift @ARGV;
my @args = map { $_ eq '-' ? undef : $_ } @ARGV;
if ($mode eq 'signer') {
    my ($file, $key, $chain, $domain, $srvid, $selector, $ts, $headers) = @args;
    my $arc = Mail::DKIM::ARC::Signer->new(
        Algorithm => 'rsa-sha256', Chain => $chain, Domain => $domain,
        SrvId => $srvid, Selector => $selector, KeyFile => $key,
        Headers => $headers, Timestamp => $ts);
    open(my $fh, '<', $file) or die "$file: $!\n";
    while (<$fh>) {
        chomp;
        s/\015$//;
        $arc->PRINT("$_\015\012");
    }
    $arc->CLOSE;
    my @fields;
    if ($arc->result eq 'sealed') {
        @fields = map { (my $f = $_) =~ s/\015//g; $f } $arc->as_strings;
    }
    print $json->encode({result => $arc->result, details => $arc->{details}, fields => \@fields}), "\n";
} elsif ($mode eq 'mimedefang') {
    my ($dir, $time, @rest) = @args;
    chdir $dir or die "chdir $dir: $!\n";
    my %h = md_arc_sign(@rest);
    print $json->encode(%h ? \%h : undef), "\n";
} else {
    die "usage: $0 signer|mimedefang ...\n";
}
