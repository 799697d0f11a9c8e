fn main() {
    std::process::exit(maqet_cli::run(std::env::args_os().collect()));
}
