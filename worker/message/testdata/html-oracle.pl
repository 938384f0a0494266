#!/usr/bin/perl
# html-oracle.pl < html-cases.json > oracles/html.json
#
# The oracle of Part.AppendHTML: MIMEDefang's append_to_html_part logic
# (HTML::Parser with the html_echo/html_end handlers: the boilerplate goes
# before the first </body>, else before the first </html>, else at the end
# after a newline) run over each input with the boilerplate "B".
#
# Reads a JSON array of input strings on stdin and prints a JSON array of
# {"in": INPUT, "out": RESULT} objects, one per input, in order.
use strict;
use warnings;
use HTML::Parser;
use JSON::PP;

my $json = JSON::PP->new->utf8->canonical->pretty;
my $cases = $json->decode(do { local $/; <STDIN> });
my @results;
for my $in (@$cases) {
    my ($out, $found) = ('', 0);
    my $p = HTML::Parser->new(api_version => 3,
        default_h => [sub { $out .= shift }, "text"],
        end_h => [sub { my $t = shift;
            if (!$found && $t =~ m+<\s*/body+i) { $out .= "B\n"; $found = 1 }
            if (!$found && $t =~ m+<\s*/html+i) { $out .= "B\n"; $found = 1 }
            $out .= $t }, "text"]);
    $p->unbroken_text(1);
    $p->parse($in);
    $p->eof;
    $out .= "\nB\n" unless $found;
    push @results, { in => $in, out => $out };
}
print $json->encode(\@results);
