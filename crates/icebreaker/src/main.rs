//! The `icebreaker` command-line tool; see `icebreaker --help` and the crate docs.

use std::process::ExitCode;

fn main() -> ExitCode {
    icebreaker::cli::main()
}
