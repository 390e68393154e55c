use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    passnum::cli::main().await
}
