#!/usr/bin/perl
# smtpload.pl: a small SMTP load generator for capture.sh.
#
# Usage: smtpload.pl LABEL HOST PORT N C
#
# Sends N small plain-text messages to HOST:PORT, one SMTP session each,
# over C concurrent connections (C forked senders, each sending its share
# one after the other), and prints one summary line:
#
#   LABEL addr=HOST:PORT n=N c=C ok=K wall=W.WWs rate=R msg/s \
#     lat(ms) mean=.. p50=.. p90=.. p99=.. max=.. [ok=K CODE=COUNT ...]
#
# where a latency is the time of one whole session (connect to QUIT), the
# rate counts accepted messages per second of wall time, and the bracket
# tallies the outcomes (ok, or the SMTP reply code that refused the
# message, or "connect" when no session could be opened).
# Every message carries "X-MDLab-Case: LABEL" so that it can be told apart.
use strict;
use warnings;
use Net::SMTP;
use POSIX qw(strftime);
use Time::HiRes qw(time);

my ($label, $host, $port, $n, $c) = @ARGV;
die "usage: $0 LABEL HOST PORT N C\n"
    unless defined $c && $n =~ /^\d+$/ && $c =~ /^\d+$/ && $c > 0;

my $helo = 'golden-client.mdlab.localdomain';
my $from = 'tester@mdlab.localdomain';
my $to   = 'mdlab@mdlab.localdomain';

# send_one sends message number $i and returns "ok" or why it failed.
sub send_one {
    my ($i) = @_;
    my $smtp = Net::SMTP->new($host, Port => $port, Hello => $helo, Timeout => 120)
        or return 'connect';
    my $now = time;
    my $msg = join("\n",
        'Date: ' . strftime('%a, %d %b %Y %H:%M:%S +0000', gmtime($now)),
        "To: $to",
        "From: $from",
        "Subject: $label message $i",
        sprintf('Message-Id: <%s.%06d.%d@%s>', strftime('%Y%m%d%H%M%S', gmtime($now)), $$, $i, 'mdlab.localdomain'),
        "X-MDLab-Case: $label",
        '',
        "Load message $i of $n.",
        '');
    my $result = 'ok';
    if (!$smtp->mail($from) || !$smtp->to($to) || !$smtp->data() ||
        !$smtp->datasend($msg) || !$smtp->dataend()) {
        $result = $smtp->code() || 'error';
    }
    $smtp->quit();
    return $result;
}

my $t0 = time;
my (@readers, @senders);
# Stopped (SIGTERM, SIGINT), the generator stops its senders too.
$SIG{TERM} = $SIG{INT} = sub { kill 'TERM', @senders; exit 1 };
for my $k (0 .. $c - 1) {
    my @mine = grep { $_ % $c == $k } 1 .. $n;
    next unless @mine;
    my $pid = open(my $fh, '-|');
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        # A sender: one line "MILLISECONDS RESULT" per message on stdout.
        $SIG{TERM} = $SIG{INT} = 'DEFAULT';
        $| = 1;
        for my $i (@mine) {
            my $start = time;
            my $r = send_one($i);
            printf "%.3f %s\n", (time - $start) * 1000, $r;
        }
        exit 0;
    }
    push @readers, $fh;
    push @senders, $pid;
}

my (@lat, %tally);
for my $fh (@readers) {
    while (my $line = <$fh>) {
        my ($ms, $r) = split ' ', $line;
        push @lat, $ms;
        $tally{$r}++;
    }
    close $fh;
}
my $wall = time - $t0;

@lat = sort { $a <=> $b } @lat;
my $ok = $tally{ok} // 0;
my $pct = sub {    # nearest-rank percentile
    my ($p) = @_;
    return 0 unless @lat;
    my $rank = int($p / 100 * @lat + 0.999999);
    $rank = 1 if $rank < 1;
    return $lat[$rank - 1];
};
my $sum = 0;
$sum += $_ for @lat;
my $mean = @lat ? $sum / @lat : 0;
my $tallies = join ' ', map { "$_=$tally{$_}" } sort { ($a ne 'ok') <=> ($b ne 'ok') || $a cmp $b } keys %tally;

printf "%s addr=%s:%d n=%d c=%d ok=%d wall=%.2fs rate=%.1f msg/s lat(ms) mean=%.1f p50=%.1f p90=%.1f p99=%.1f max=%.1f [%s]\n",
    $label, $host, $port, $n, $c, $ok, $wall, ($wall > 0 ? $ok / $wall : 0),
    $mean, $pct->(50), $pct->(90), $pct->(99), (@lat ? $lat[-1] : 0), $tallies;
exit($ok == $n ? 0 : 1);
