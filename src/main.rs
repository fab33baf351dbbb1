fn main() -> std::process::ExitCode {
    match plantune_tui::cli::main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", plantune_tui::cli::error_message(&err));
            std::process::ExitCode::FAILURE
        }
    }
}
