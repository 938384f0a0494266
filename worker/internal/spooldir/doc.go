// Package spooldir reads and writes the files of a message's working
// directory on the worker side: COMMANDS (written by md-milterd's
// internal/spool, read here as Mail::MIMEDefang's read_commands_file does)
// and RESULTS (written here as write_result_line does, read by md-milterd's
// internal/results).
package spooldir
