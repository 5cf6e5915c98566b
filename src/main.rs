//! The `sluice` command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use sluice::config;
use sluice::metrics::Metrics;

/// The quick-start configuration, so `sluice run` works with nothing else.
const QUICKSTART: &str = include_str!("../examples/quickstart.yaml");

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "A streaming log agent: detects the source of every record and normalizes it to ECS",
    after_help = "Examples:\n  sluice run -c examples/quickstart.yaml\n  sluice validate -c /etc/sluice/sluice.yaml\n  sluice normalize /var/log/auth.log -o auth.ndjson\n  tail -f fw.log | sluice normalize -"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent with a configuration file (reloads on change and on SIGHUP). Without -c,
    /// runs the bundled quick-start configuration (examples/quickstart.yaml).
    #[command(
        after_help = "Examples:\n  sluice run -c /etc/sluice/sluice.yaml\n  sluice run            # the embedded quick start: examples/samples -> ./out"
    )]
    Run {
        #[arg(short, long, env = "SLUICE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check a configuration file; prints every problem and exits 1 if there is one.
    #[command(
        after_help = "Example:\n  sluice validate -c sluice.yaml && systemctl reload sluice"
    )]
    Validate {
        #[arg(short, long, env = "SLUICE_CONFIG")]
        config: PathBuf,
    },
    /// Print the detected source type and confidence of every record (files, `.evtx`, or stdin).
    #[command(
        after_help = "Examples:\n  sluice detect fw.log\n  sluice detect --summary /var/log/*.log Security.evtx"
    )]
    Detect {
        /// Files to read; `-` or nothing reads stdin.
        files: Vec<PathBuf>,
        /// Only a count per source type.
        #[arg(long)]
        summary: bool,
        /// Extra detection rules (YAML files, as in detection-rules/).
        #[arg(long)]
        rules_dir: Option<PathBuf>,
        /// Use this configuration's `pipeline` settings.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Compile a CSV of networks (the format of enrichment-data/geoip-example.csv) into a MaxMind
    /// DB file for the `geoip` enricher.
    #[command(
        after_help = "Example:\n  sluice build-mmdb enrichment-data/geoip-example.csv -o geoip-example.mmdb"
    )]
    BuildMmdb {
        /// The CSV: network,city_name,country_iso_code,… (see README, Enrichment).
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Normalize files (or `-` for stdin) to ECS NDJSON once, without a configuration.
    #[command(
        after_help = "Examples:\n  sluice normalize fw.log auth.log -o out.ndjson\n  cat events.json | sluice normalize"
    )]
    Normalize {
        /// Files to read; `-` or nothing reads stdin.
        files: Vec<PathBuf>,
        /// Write here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Zone for timestamps that carry none.
        #[arg(long)]
        timezone: Option<String>,
        /// Use this configuration's `pipeline` settings (time zone, rules, parsers).
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Probe a running agent's `/health` (or `/ready`); exit 0 on `200`, 1 otherwise. For container
    /// health checks on images without curl.
    #[command(
        after_help = "Examples:\n  sluice health                      # http://127.0.0.1:8686/health\n  sluice health --ready --url http://10.0.0.5:8686\n  sluice health -c /etc/sluice/sluice.yaml   # the address of api.listen"
    )]
    Health {
        /// Base URL of the API (plain HTTP).
        #[arg(long, env = "SLUICE_HEALTH_URL")]
        url: Option<String>,
        /// Probe `/ready` instead of `/health`.
        #[arg(long)]
        ready: bool,
        /// Take the address from this configuration's `api.listen`.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Inspect output disk buffers.
    Buffer {
        #[command(subcommand)]
        command: BufferCommand,
    },
    /// Inspect or re-send the records a dead-letter queue (`type: dlq` output) holds.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
}

#[derive(Subcommand)]
enum BufferCommand {
    /// Report what disk buffers hold and where they are corrupt; exits 1 while corruption is left.
    /// Run it with Sluice stopped (Sluice itself cuts corrupt tails when it starts).
    #[command(
        after_help = "Examples:\n  sluice buffer check ./data/buffers\n  sluice buffer check ./data/buffers/siem --repair"
    )]
    Check {
        /// A buffer directory (`data_dir/buffers/<output>`), or a directory of them.
        dir: PathBuf,
        /// Cut corrupt segment tails (and remove segments with a bad header).
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Records per output and reason, the commonest errors, and when they were parked.
    #[command(after_help = "Example:\n  sluice dlq stats /var/lib/sluice/dlq")]
    Stats {
        /// The queue's directory (the dlq output's `path`).
        dir: PathBuf,
    },
    /// Send parked records again: raw text is normalized again with the configuration's pipeline,
    /// then delivered to the output that failed (or `--to`). Fully accepted files are renamed
    /// `<name>.replayed`; records that fail again are parked again.
    #[command(
        after_help = "Examples:\n  sluice dlq replay --from /var/lib/sluice/dlq -c /etc/sluice/sluice.yaml\n  sluice dlq replay --from ./dlq -c sluice.yaml --to elastic"
    )]
    Replay {
        #[arg(long)]
        from: PathBuf,
        #[arg(short, long, env = "SLUICE_CONFIG")]
        config: PathBuf,
        /// Deliver every record to this output instead of the one it failed in.
        #[arg(long)]
        to: Option<String>,
    },
}

/// The `pipeline` section of a configuration file, or the defaults; errors are printed.
fn pipeline_settings(path: Option<&std::path::Path>) -> Option<config::PipelineConfig> {
    match path.map(config::load) {
        None => Some(config::PipelineConfig::default()),
        Some(Ok(c)) => Some(c.pipeline),
        Some(Err(e)) => {
            eprintln!("{e}");
            None
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Health {
            url,
            ready,
            config,
            timeout,
        } => {
            let listen = match config.as_deref().map(config::load) {
                None => None,
                Some(Ok(c)) => c.api.map(|a| a.listen),
                Some(Err(e)) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let base = sluice::cli::health::base_url(url.as_deref(), listen.as_deref());
            let limit = std::time::Duration::from_secs(timeout.max(1));
            match sluice::cli::health::probe(&base, ready, limit) {
                Ok(body) => {
                    println!("{body}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("unhealthy: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Buffer {
            command: BufferCommand::Check { dir, repair },
        } => {
            let reports = match sluice::buffer::check::check(&dir, repair) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {}: {e}", dir.display());
                    return ExitCode::FAILURE;
                }
            };
            let stdout = std::io::stdout();
            match sluice::buffer::check::print(&reports, &mut stdout.lock()) {
                Ok(false) => ExitCode::SUCCESS,
                Ok(true) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Validate { config } => match config::load(&config) {
            Ok(_) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Run { config } => {
            let loaded = match &config {
                Some(path) => config::load(path),
                None => config::load_str(
                    QUICKSTART,
                    std::path::Path::new("(embedded) examples/quickstart.yaml"),
                    &|k| std::env::var(k).ok(),
                ),
            };
            let cfg = match loaded {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            sluice::app::init_logging(&cfg.log.level, cfg.log.format);
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(sluice::app::run(config, cfg, Metrics::new())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Dlq { command } => {
            sluice::app::init_logging("warn", config::LogFormat::Text);
            match command {
                DlqCommand::Stats { dir } => {
                    let mut out = std::io::stdout().lock();
                    match sluice::cli::dlq::stats(&dir, &mut out) {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(e) => {
                            eprintln!("error: {e:#}");
                            ExitCode::FAILURE
                        }
                    }
                }
                DlqCommand::Replay { from, config, to } => {
                    let cfg = match config::load(&config) {
                        Ok(c) => c,
                        Err(e) => {
                            eprintln!("{e}");
                            return ExitCode::FAILURE;
                        }
                    };
                    match sluice::cli::dlq::replay(&from, &cfg, to.as_deref(), &Metrics::new()) {
                        Ok(s) => {
                            println!(
                                "{} records replayed; {} files done (renamed .replayed), {} kept (some records not accepted)",
                                s.records, s.files_done, s.files_kept
                            );
                            if s.files_kept > 0 {
                                ExitCode::FAILURE
                            } else {
                                ExitCode::SUCCESS
                            }
                        }
                        Err(e) => {
                            eprintln!("error: {e:#}");
                            ExitCode::FAILURE
                        }
                    }
                }
            }
        }
        Command::Detect {
            files,
            summary,
            rules_dir,
            config,
        } => {
            sluice::app::init_logging("warn", config::LogFormat::Text);
            let Some(mut pipeline) = pipeline_settings(config.as_deref()) else {
                return ExitCode::FAILURE;
            };
            if rules_dir.is_some() {
                pipeline.detect.rules_dir = rules_dir;
            }
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            let r = sluice::cli::detect::run(&files, summary, &pipeline, &mut w);
            let _ = w.flush();
            match r {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::BuildMmdb { input, output } => {
            sluice::app::init_logging("warn", config::LogFormat::Text);
            match sluice::enrich::mmdb::compile_csv(&input) {
                Ok((image, report)) => match std::fs::write(&output, image) {
                    Ok(()) => {
                        eprintln!(
                            "{}: {} networks ({} rows skipped)",
                            output.display(),
                            report.entries,
                            report.skipped
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {}: {e}", output.display());
                        ExitCode::FAILURE
                    }
                },
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Normalize {
            files,
            output,
            timezone,
            config,
        } => {
            sluice::app::init_logging("warn", config::LogFormat::Text);
            let Some(mut pipeline) = pipeline_settings(config.as_deref()) else {
                return ExitCode::FAILURE;
            };
            if let Some(tz) = timezone {
                pipeline.normalize.timezone = tz;
            }
            // A batch of one source type is written whole, and one larger than the buffer goes to
            // the file without a copy; a mixed batch's lines are gathered here in record order.
            const OUT_BUFFER: usize = 256 << 10;
            let result = match &output {
                Some(path) => std::fs::File::create(path)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
                    .and_then(|f| {
                        let mut w = std::io::BufWriter::with_capacity(OUT_BUFFER, f);
                        sluice::cli::normalize::run(&files, &mut w, &pipeline)
                    }),
                None => {
                    let stdout = std::io::stdout();
                    let mut w = std::io::BufWriter::with_capacity(OUT_BUFFER, stdout.lock());
                    let r = sluice::cli::normalize::run(&files, &mut w, &pipeline);
                    let _ = w.flush();
                    r
                }
            };
            match result {
                Ok(s) => {
                    if output.is_some() {
                        eprintln!("{} records, {} bytes in", s.records, s.bytes_in);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
