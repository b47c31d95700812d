//! `cargo xtask codegen [--check]`: regenerate (or check) generated/ and docs/TOOLS.md from spec/.

use std::process::ExitCode;

use xtask::codegen::{self, Diagnostics};

const USAGE: &str = "usage: cargo xtask codegen [--check]

tasks:
  codegen          regenerate generated/ and docs/TOOLS.md from spec/
  codegen --check  write nothing; fail if any generated file is stale or orphaned";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let check = match args.as_slice() {
        ["codegen"] => false,
        ["codegen", "--check"] => true,
        [] | ["help" | "--help" | "-h"] | ["codegen", "--help" | "-h"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("error: unknown arguments `{}`\n\n{USAGE}", args.join(" "));
            return ExitCode::from(2);
        }
    };
    match codegen::run(&codegen::project_root(), check) {
        Ok(report) => {
            if check {
                eprintln!("codegen: {} files up to date", report.unchanged);
            } else {
                eprintln!("{report}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            match err.downcast_ref::<Diagnostics>() {
                Some(d) => eprintln!("{d}"),
                None => eprintln!("error: {err:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
