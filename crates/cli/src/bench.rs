//! `photo-search bench`: figures for docs/PERFORMANCE.md. Prints measurements; asserts nothing.
//! CPU time and peak memory are read from /proc (Linux).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Subcommand;
use photo_search_core::api::Progress;
use photo_search_core::decode::{self, DecodeTarget};
use photo_search_core::encoder::{BatchEncoder, EncoderOptions, ImageEncoder, TextEncoder};
use photo_search_core::library::Access;
use photo_search_core::models::Precision;
use photo_search_core::prepare::THUMBNAIL_SIDE;
use photo_search_core::{Engine, EngineOptions};

mod app;

#[derive(Subcommand)]
pub enum Bench {
    /// Decode + preprocess per image, DCT-scaled fast path against a full decode + resize.
    Decode { dir: PathBuf },
    /// The vision encoder alone: images/s per batch size and thread count, for each graph given
    /// (default: the model's CPU graph).
    Encoder {
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
        batches: Vec<usize>,
        /// Other vision graph files of the same model to compare (e.g. a uint8 quantization).
        #[arg(long = "onnx")]
        graphs: Vec<PathBuf>,
    },
    /// The GPU's precision against fp32: cosine of each photo's fp16 and fp32 embeddings (the
    /// model's fp16 and fp32 vision graphs, on whatever provider runs them).
    Precision {
        dir: PathBuf,
        /// At most this many photos.
        #[arg(long, default_value_t = 16)]
        limit: usize,
    },
    /// `index` of a folder into a fresh library, with CPU use, the machine's ceiling, peak memory
    /// and index size; both CPU layouts.
    Index {
        dir: PathBuf,
        /// Repeat each layout this many times (fresh library each time) and report the best.
        #[arg(long, default_value_t = 2)]
        rounds: usize,
    },
    /// The app's path at library scale: generates PHOTOS small JPEGs, indexes them with the real
    /// pipeline, runs `serve` and drives its HTTP API as the UI does (search while idle, while
    /// the watcher indexes copied files, during a rescan, after a kill -9). Use the library
    /// benchmark model (scripts/bench/make_bench_model.py) and a library of its own.
    App {
        #[arg(long, default_value_t = 100_000)]
        photos: usize,
        /// Where the generated photos go (kept between runs).
        #[arg(long)]
        work: PathBuf,
        #[arg(long, default_value_t = 200)]
        queries: usize,
    },
}

pub fn run(bench: &Bench, options: EngineOptions) -> Result<()> {
    println!("machine: {} cores, {}", cores(), cpu_model());
    match bench {
        Bench::Decode { dir } => decode_bench(dir, &options),
        Bench::Encoder { batches, graphs } => encoder_bench(&options, batches, graphs),
        Bench::Precision { dir, limit } => precision_bench(dir, &options, *limit),
        Bench::Index { dir, rounds } => index_bench(dir, options, *rounds),
        Bench::App { photos, work, queries } => app::run(options, *photos, work, *queries),
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of /proc/[pid]/stat (utime, stime), counted after the ")".
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mb() -> f64 {
    peak_rss_mb_of("self")
}

/// Peak resident memory of a process (`self` or a pid), from /proc.
fn peak_rss_mb_of(process: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn photos_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut problems = Vec::new();
    let files = photo_search_core::scan::scan(dir, &photo_search_core::scan::Excludes::default(), &mut problems)
        .with_context(|| format!("scan {}", dir.display()))?;
    anyhow::ensure!(!files.is_empty(), "no photos in {}", dir.display());
    Ok(files.into_iter().map(|f| f.path).collect())
}

/// Per-image single-thread costs of the decode paths, in seconds.
struct DecodeCost {
    fast: f64,
    fast_with_thumbnail: f64,
    full: f64,
    megapixels: f64,
}

fn measure_decode(
    files: &[PathBuf],
    options: &EngineOptions,
    spec: &photo_search_core::models::ImageSpec,
) -> Result<DecodeCost> {
    let data: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let limits = options.limits;
    let target = DecodeTarget { min_short_side: spec.size, min_long_side: THUMBNAIL_SIDE };
    let mut tensor = vec![0.0f32; 3 * spec.size as usize * spec.size as usize];
    let mut megapixels = 0.0;
    let time = |f: &mut dyn FnMut(&[u8]) -> Result<()>| -> Result<f64> {
        let started = Instant::now();
        for bytes in &data {
            f(bytes)?;
        }
        Ok(started.elapsed().as_secs_f64() / data.len() as f64)
    };
    let fast = time(&mut |bytes| {
        let d = decode::decode_scaled(bytes, limits, target)?;
        decode::model_tensor(&d.rgb, spec, &mut tensor)?;
        Ok(())
    })?;
    let fast_with_thumbnail = time(&mut |bytes| {
        let d = decode::decode_scaled(bytes, limits, target)?;
        decode::model_tensor(&d.rgb, spec, &mut tensor)?;
        decode::thumbnail_jpeg(&d.rgb, THUMBNAIL_SIDE)?;
        Ok(())
    })?;
    let full = time(&mut |bytes| {
        let d = decode::decode(bytes, limits)?;
        megapixels += f64::from(d.rgb.width()) * f64::from(d.rgb.height()) / 1e6;
        decode::model_tensor(&d.rgb, spec, &mut tensor)?;
        Ok(())
    })?;
    Ok(DecodeCost { fast, fast_with_thumbnail, full, megapixels: megapixels / data.len() as f64 })
}

fn decode_bench(dir: &Path, options: &EngineOptions) -> Result<()> {
    let files = photos_in(dir)?;
    let spec = photo_search_core::models::ImageSpec::clip(224);
    let cost = measure_decode(&files, options, &spec)?;
    println!("decode + preprocess, one thread, {} files of {:.1} MP on average:", files.len(), cost.megapixels);
    for (label, seconds) in [
        ("DCT-scaled decode + resize", cost.fast),
        ("DCT-scaled decode + resize + thumbnail", cost.fast_with_thumbnail),
        ("full decode + resize", cost.full),
    ] {
        println!(
            "  {label:<40} {:>7.1} ms/image  {:>6.1} images/s  {:>6.1} MP/s",
            seconds * 1e3,
            1.0 / seconds,
            cost.megapixels / seconds
        );
    }
    println!("  fast path speed-up: {:.2}x", cost.full / cost.fast_with_thumbnail);
    Ok(())
}

fn precision_bench(dir: &Path, options: &EngineOptions, limit: usize) -> Result<()> {
    let engine = Engine::open(options.clone())?;
    let encoders = engine.encoders()?;
    let manifest = &engine.model().manifest;
    let graph = |precision| -> Result<PathBuf> { Ok(engine.model().path_of(&manifest.variant(precision)?.vision)) };
    let (fp16, fp32) = (graph(Precision::Fp16)?, graph(Precision::Fp32)?);
    let (fp16, fp32) = (encoders.image_encoder_from(&fp16, 0)?, encoders.image_encoder_from(&fp32, 0)?);
    let files: Vec<PathBuf> = photos_in(dir)?.into_iter().take(limit.max(1)).collect();
    let spec = &manifest.image;
    let target = DecodeTarget { min_short_side: spec.size, min_long_side: spec.size };
    let mut cosines = Vec::new();
    let mut previous: Option<Vec<f32>> = None;
    let mut apart = Vec::new();
    for file in &files {
        let decoded = decode::decode_scaled(&std::fs::read(file)?, options.limits, target)?;
        let mut tensor = vec![0.0f32; fp32.item_len()];
        decode::model_tensor(&decoded.rgb, spec, &mut tensor)?;
        let (a, b) = (fp16.encode_batch(&tensor)?, fp32.encode_batch(&tensor)?);
        let cosine = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        cosines.push(cosine(&a[0], &b[0]));
        if let Some(previous) = &previous {
            apart.push(cosine(previous, &b[0]));
        }
        previous = Some(b[0].clone());
    }
    let min = cosines.iter().copied().fold(f32::INFINITY, f32::min);
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    println!(
        "fp16 against fp32, {} on {}, {} photos of {}: min cosine {min:.6}, mean {mean:.6}",
        manifest.name,
        encoders.provider.name(),
        files.len(),
        dir.display()
    );
    if !apart.is_empty() {
        // The scale: how far apart two different photos are at fp32 (a random-weight graph
        // tells photos apart less than a trained one).
        let apart_mean = apart.iter().sum::<f32>() / apart.len() as f32;
        println!("  for scale, consecutive photos at fp32: mean cosine {apart_mean:.5}");
    }
    Ok(())
}

/// Images per second of `encoder` at `batch` for about two seconds.
fn encoder_rate(encoder: &ImageEncoder, batch: usize) -> Result<f64> {
    let runs = (16 / batch).max(2);
    let started = Instant::now();
    let mut rates = Vec::new();
    while started.elapsed() < Duration::from_secs(2) || rates.is_empty() {
        rates.push(photo_search_core::encoder::measure_rate(encoder, batch, runs)?);
    }
    Ok(rates.iter().sum::<f64>() / rates.len() as f64)
}

fn encoder_bench(options: &EngineOptions, batches: &[usize], graphs: &[PathBuf]) -> Result<()> {
    let engine = Engine::open(options.clone())?;
    let encoders = engine.encoders()?;
    let variant = engine.model().manifest.variant(encoders.precision)?;
    let name_of = |file: &Path| file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut files = Vec::new();
    // A graph with uint8 weights also runs as the app runs it: rewritten to signed int8.
    let rewrites = tempfile::tempdir()?;
    for graph in std::iter::once(&engine.model().path_of(&variant.vision)).chain(graphs) {
        files.push((name_of(graph), graph.clone()));
        let (signed, nodes) = photo_search_core::signed::rewrite(&std::fs::read(graph)?)?;
        if nodes > 0 {
            let path = rewrites.path().join(name_of(graph));
            std::fs::write(&path, signed)?;
            files.push((format!("{} (signed rewrite)", name_of(graph)), path));
        }
    }
    println!("vision encoder alone, {} on {}:", engine.model().manifest.name, encoders.provider.name());
    for (name, file) in &files {
        for threads in [1, cores()] {
            let encoder = encoders.image_encoder_from(file, threads)?;
            let rates: Vec<String> = batches
                .iter()
                .map(|b| encoder_rate(&encoder, *b).map(|r| format!("b{b} {r:>5.1}")))
                .collect::<Result<_>>()?;
            println!("  {name:<48} {threads} thread(s): {} images/s", rates.join("  "));
            if threads == cores() {
                break;
            }
        }
    }
    println!(
        "  default batch size on {}: {} (indexing tunes it per library among {})",
        encoders.provider.name(),
        encoders.batch_size,
        photo_search_core::encoder::batch_candidates(encoders.provider)
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    // A query's text encoding, as a search runs it (one text, the session's own threads).
    let queries = ["kids on a beach at sunset", "a red car in the snow", "grandma's birthday cake", "dog"];
    print_text_latency(&encoders.text, "text query", &queries)?;
    // The model's query encoders (e.g. multilingual), over the same photo vectors.
    let queries =
        ["Kinder am Strand bei Sonnenuntergang", "une voiture rouge dans la neige", "el pastel de la abuela", "dog"];
    for (id, spec) in &engine.model().manifest.query_encoders {
        let runtime = photo_search_core::runtime::load(&engine.library().runtime_dir())?;
        let cache = engine.library().cache_dir();
        let (files, options) = ((&spec.text, spec.graph.as_path(), spec.files.as_slice()), EncoderOptions::default());
        match TextEncoder::open(&runtime, engine.model(), files, &cache, encoders.provider, &options) {
            Ok(encoder) => print_text_latency(&encoder, &format!("{id} query encoder"), &queries)?,
            Err(err) => println!("  {id} query encoder: not measured ({err})"),
        }
    }
    Ok(())
}

/// p50 and p95 of embedding one query at a time, as a search does.
fn print_text_latency(encoder: &TextEncoder, label: &str, queries: &[&str]) -> Result<()> {
    encoder.embed(&[queries[0]])?;
    let mut ms: Vec<f64> = (0..40)
        .map(|i| {
            let started = Instant::now();
            encoder.embed(&[queries[i % queries.len()]]).map(|_| started.elapsed().as_secs_f64() * 1000.0)
        })
        .collect::<Result<_, _>>()?;
    ms.sort_by(f64::total_cmp);
    println!(
        "  {label} ({} queries of 1-6 words): p50 {:.1} ms, p95 {:.1} ms",
        ms.len(),
        ms[ms.len() / 2],
        ms[ms.len() * 95 / 100]
    );
    Ok(())
}

fn index_bench(dir: &Path, options: EngineOptions, rounds: usize) -> Result<()> {
    let files = photos_in(dir)?;
    let n = files.len();
    let provider = Engine::open(options.clone())?.encoders()?.provider;
    let layouts = [
        ("workers: one per core, each decodes then encodes (1 thread)", cores(), 1, Some(0)),
        ("one encoder (all threads) beside decode threads", 1, cores(), Some(cores())),
    ];
    let mut best_rate = 0.0f64;
    let mut peak = 0.0f64;
    let mut sizes = (0u64, 0u64, 0u64);
    println!("index of {} ({n} photos), {} rounds per layout:", dir.display(), rounds);
    for (label, workers, threads, decode_threads) in layouts {
        let mut best: Option<(f64, f64)> = None;
        for _ in 0..rounds.max(1) {
            let library = tempfile::tempdir()?;
            let mut opts = options.clone();
            opts.library = library.path().to_path_buf();
            opts.access = Access::Write;
            opts.workers = workers;
            opts.encoder.threads = threads;
            opts.decode_threads = decode_threads;
            let engine = Engine::open(opts)?;
            engine.encoders()?;
            // Timed from the moment the work is planned (sessions made, folders scanned) to the
            // end, as the reference pipeline is timed once its sessions are loaded.
            let mut start: Option<(Instant, f64)> = None;
            let summary = engine.index(&[dir.to_path_buf()], &mut |event| {
                if matches!(event, Progress::Planned { .. }) {
                    start = Some((Instant::now(), cpu_seconds()));
                }
            })?;
            let (wall0, cpu0) = start.context("no Planned event")?;
            let (wall, cpu) = (wall0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
            anyhow::ensure!(summary.indexed as usize + summary.failed as usize == n, "unexpected summary {summary:?}");
            let rate = n as f64 / wall;
            if best.is_none_or(|(r, _)| rate > r) {
                best = Some((rate, cpu / (wall * cores() as f64)));
            }
            peak = peak.max(peak_rss_mb());
            let root = engine.library().root();
            sizes = (
                dir_bytes(&root.join("index")),
                file_bytes(&root.join("catalog.sqlite")) + file_bytes(&root.join("catalog.sqlite-wal")),
                dir_bytes(&root.join("thumbs")),
            );
        }
        let (rate, utilisation) = best.unwrap_or_default();
        best_rate = best_rate.max(rate);
        println!("  {label:<62} {rate:>6.1} images/s, CPU {:.0}% of {} cores", utilisation * 100.0, cores());
    }
    println!("  peak RSS while indexing: {peak:.0} MB");
    println!(
        "  on disk per photo: vector index {:.0} B, catalog {:.0} B, thumbnail {:.0} B",
        sizes.0 as f64 / n as f64,
        sizes.1 as f64 / n as f64,
        sizes.2 as f64 / n as f64
    );

    // The ceiling, measured in this same run on the same files.
    let engine = Engine::open(options.clone())?;
    let spec = engine.model().manifest.image.clone();
    let decode = measure_decode(&files, &options, &spec)?;
    let encoders = engine.encoders()?;
    let one_thread = encoders.image_encoder(1)?;
    let encode_rate = encoder_rate(&one_thread, encoders.batch_size)?;
    let per_image = decode.fast_with_thumbnail + 1.0 / encode_rate;
    let ceiling = cores() as f64 / per_image;
    println!(
        "  ceiling on {}: {} cores / (decode {:.1} ms + encode {:.1} ms CPU per image) = {ceiling:.1} images/s",
        provider.name(),
        cores(),
        decode.fast_with_thumbnail * 1e3,
        1e3 / encode_rate
    );
    println!("  best layout reaches {:.0}% of the ceiling", best_rate / ceiling * 100.0);
    Ok(())
}

fn file_bytes(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn dir_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path).map_or(0, |entries| {
        entries
            .filter_map(|e| e.ok())
            .map(|e| if e.path().is_dir() { dir_bytes(&e.path()) } else { file_bytes(&e.path()) })
            .sum()
    })
}
