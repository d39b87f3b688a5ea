//! The demo agent as a standalone process: ACP over stdin/stdout.
//!
//! Exit status: 0 when stdin closes, 3 on `/crash`, 1 on any other failure.

use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("switchyard-demo-agent: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(switchyard_demo_agent::run_stdio()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("switchyard-demo-agent: {error}");
            ExitCode::FAILURE
        }
    }
}
