#!/usr/bin/perl
# dumptree.pl FILE: print the MIME tree of a complete message (headers, blank
# line, body) as one line per entity, depth first:
#   <depth> <type> disposition=<d> charset=<c> filename=<f> [sha256=<hex> size=<n>]
# Leaves carry the SHA-256 of their decoded (transfer-decoded) content.
# Used by integration/conformance as a grader independent of both implementations.
use strict;
use warnings;
use MIME::Parser;
use MIME::Words qw(decode_mimewords);
use Digest::SHA qw(sha256_hex);

my $file = shift or die "usage: dumptree.pl FILE\n";
my $parser = MIME::Parser->new;
$parser->output_to_core(1);
$parser->tmp_to_core(1);
$parser->extract_nested_messages(1);
$parser->extract_uuencode(0);
$parser->decode_headers(0);
open(my $fh, '<', $file) or die "open $file: $!\n";
my $entity = $parser->parse($fh) or die "parse $file failed\n";
close($fh);

sub clean {
    my($s) = @_;
    $s = '' unless defined $s;
    $s = join('', map { $_->[0] } decode_mimewords($s));
    $s =~ s/[\r\n\t]/ /g;
    # MIME-tools returns decoded names as character strings; print UTF-8.
    utf8::encode($s) if utf8::is_utf8($s);
    return $s;
}

sub dump_entity {
    my($e, $depth) = @_;
    my $head = $e->head;
    my $type = lc($head->mime_type || '');
    my $disp = lc($head->mime_attr('content-disposition') || '');
    my $charset = lc($head->mime_attr('content-type.charset') || '');
    my $fname = clean($head->recommended_filename);
    my $line = sprintf('%d %s disposition=%s charset=%s filename="%s"',
                       $depth, $type, $disp, $charset, $fname);
    my $body = $e->bodyhandle;
    if (defined($body)) {
        my $data = $body->as_string;
        $data = '' unless defined $data;
        $line .= sprintf(' sha256=%s size=%d', substr(sha256_hex($data), 0, 16), length($data));
    }
    print "$line\n";
    foreach my $p ($e->parts) {
        dump_entity($p, $depth + 1);
    }
}

dump_entity($entity, 0);
