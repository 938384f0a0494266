#!/usr/bin/perl
# mimeview.pl FILE...: what MIME-tools finds in each message, in the form of
# clientview.py: one JSON line per file, {"file": FILE, "readers":
# {"mime-tools": [[TYPE, [NAME, ...]], ...]}}, one entry per leaf (depth
# first) with its Content-Disposition filename and Content-Type name,
# MIME-decoded to UTF-8. Used by integration/conformance TestBrokenMIME.
use strict;
use warnings;
use MIME::Parser;
use Encode qw(decode encode_utf8);
use JSON::PP;

my $json = JSON::PP->new->canonical(1);

sub name_of {
    my($v) = @_;
    return undef unless defined $v;
    my $d = eval { decode('MIME-Header', $v) };
    $d = $v unless defined $d;
    return utf8::is_utf8($d) ? encode_utf8($d) : $d;
}

sub leaves {
    my($e, $out) = @_;
    if ($e->parts) {
        leaves($_, $out) foreach $e->parts;
        return;
    }
    return unless defined $e->bodyhandle;
    my @names;
    foreach my $v ($e->head->mime_attr('content-disposition.filename'), $e->head->mime_attr('content-type.name')) {
        my $n = name_of($v);
        push @names, $n if defined $n && !grep { $_ eq $n } @names;
    }
    push @$out, [lc($e->head->mime_type || ''), \@names];
}

foreach my $file (@ARGV) {
    my $parser = MIME::Parser->new;
    $parser->output_to_core(1);
    $parser->tmp_to_core(1);
    $parser->extract_nested_messages(1);
    $parser->extract_uuencode(0);
    my $r;
    my $entity = eval { $parser->parse_open($file) };
    if ($entity) {
        my @out;
        leaves($entity, \@out);
        $r = \@out;
    } else {
        $r = { error => "$@" };
    }
    # Names are UTF-8 bytes: print them as they are.
    my $line = JSON::PP->new->canonical(1)->latin1(0)->utf8(0)->encode({ file => $file, readers => { 'mime-tools' => $r } });
    print "$line\n";
}
