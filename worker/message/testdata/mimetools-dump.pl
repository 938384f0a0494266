#!/usr/bin/perl
# mimetools-dump.pl FILE...
#
# The conformance oracle for package message: parses each FILE (an INPUTMSG)
# with MIME::Parser configured as MIMEDefang's builtin_create_parser and
# mimedefang.pl's do_scan configure it (nested messages extracted, uuencode
# extracted, bodies on disk in a scratch directory, attacker file names
# ignored), calls make_multipart, and prints the tree:
#
#   == FILE
#   multipart <0|1>                       ($WasMultiPart)
#   <depth> <type> <filename> <sha256|->  (one line per entity, depth first)
#
# type is the effective type as rebuild_entity computes it, filename is
# Mail::MIMEDefang::MIME::takeStabAtFilename (UTF-8, with bytes < 0x20, 0x7f
# and '%' written as %XX), and the last column is the SHA-256 of the decoded
# body of a leaf (an entity with a bodyhandle), "-" for a container.
# Columns are separated by tabs. With MD_MAX_PARTS=n in the environment the
# parser gets max_parts(n), as with $MaxMIMEParts; a parse that fails prints
# "error" instead of the tree.
#
# The unit tests do not run it: record-oracles.sh records its output under
# oracles/ and the tests compare with the recordings.
use strict;
use warnings;
use MIME::Parser;
use File::Temp qw(tempdir);
use Digest::SHA;
use Encode;
use Mail::MIMEDefang::MIME;

sub esc {
    my ($s) = @_;
    $s = Encode::encode_utf8($s) if utf8::is_utf8($s);
    $s =~ s/([\x00-\x1f\x7f%])/sprintf("%%%02X", ord($1))/ge;
    return $s;
}

sub walk {
    my ($e, $depth) = @_;
    my $type = lc($e->mime_type);
    my $fname = Mail::MIMEDefang::MIME::takeStabAtFilename($e);
    $fname = '' unless defined $fname;
    my $sum = '-';
    if (defined($e->bodyhandle)) {
        my $sha = Digest::SHA->new(256);
        my $path = $e->bodyhandle->path;
        if (defined $path) {
            $sha->addfile($path, 'b');
        } else {
            $sha->add($e->bodyhandle->as_string);
        }
        $sum = $sha->hexdigest;
    }
    print join("\t", $depth, esc($type), esc($fname), $sum), "\n";
    walk($_, $depth + 1) for $e->parts;
}

for my $file (@ARGV) {
    my $dir = tempdir(CLEANUP => 1);
    my $parser = MIME::Parser->new();
    $parser->extract_nested_messages(1);
    $parser->extract_uuencode(1);
    $parser->output_to_core(0);
    $parser->tmp_to_core(0);
    $parser->output_under($dir);
    $parser->filer->ignore_filename(1);
    # mimedefang.pl: $parser->max_parts($MaxMIMEParts) if $MaxMIMEParts > 0.
    $parser->max_parts($ENV{MD_MAX_PARTS}) if ($ENV{MD_MAX_PARTS} || 0) > 0;
    open(my $in, '<', $file) or die "$file: $!";
    my $entity = eval { $parser->parse($in) };
    close($in);
    print "== $file\n";
    if (!defined $entity) {
        print "error\n";
        next;
    }
    my $code = $entity->make_multipart();
    print "multipart ", ($code eq 'ALREADY' ? 1 : 0), "\n";
    walk($entity, 0);
}
