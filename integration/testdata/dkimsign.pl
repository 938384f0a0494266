#!/usr/bin/perl
# MIMEDefang's own md_dkim_sign (Debian's Mail::MIMEDefang::DKIM, over
# Perl's Mail::DKIM) for integration/dkim_test.go. Usage:
#   dkimsign.pl DIR KEYFILE ALGORITHM METHOD DOMAIN SELECTOR [HEADERS]
# signs DIR/INPUTMSG and prints the header name, a newline and the value;
# an argument "-" is passed as undef.
use strict;
use warnings;
use Mail::MIMEDefang;
use Mail::MIMEDefang::DKIM;

my ($dir, @args) = @ARGV;
@args = map { $_ eq '-' ? undef : $_ } @args;
chdir $dir or die "chdir $dir: $!\n";
my ($name, $value) = md_dkim_sign(@args);
defined $value or die "md_dkim_sign returned nothing\n";
print "$name\n$value";
