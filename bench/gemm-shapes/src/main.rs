//! Times `C = A · B` (f32, row-major, `rayon` threads from `RAYON_NUM_THREADS`) for
//! the matmuls of one SmolLM2-135M training step at 4 × 256 tokens and prints
//! GFLOP per CPU-second per shape and for the whole step's matmul work; `torch_mm.py`
//! beside it does the same with `torch.mm`.

/// User + system CPU seconds of this process (what `time.process_time` gives the
/// PyTorch side): on a shared machine, wall time counts the neighbours' load too.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; it is read only when rc == 0.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return f64::NAN;
        }
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// (name, m, n, k, how many per step): forward, and the two backward products.
fn shapes() -> Vec<(&'static str, usize, usize, usize, usize)> {
    let (rows, hidden, inter, kv, vocab, layers) = (1024, 576, 1536, 192, 49152, 30);
    let labelled = 768;
    vec![
        ("q/o fwd x·Wt", rows, hidden, hidden, 2 * layers),
        ("k/v fwd x·Wt", rows, kv, hidden, 2 * layers),
        ("gate/up fwd x·Wt", rows, inter, hidden, 2 * layers),
        ("down fwd x·Wt", rows, hidden, inter, layers),
        ("q/o bwd g·W", rows, hidden, hidden, 2 * layers),
        ("k/v bwd g·W", rows, hidden, kv, 2 * layers),
        ("gate/up bwd g·W", rows, hidden, inter, 2 * layers),
        ("down bwd g·W", rows, inter, hidden, layers),
        ("q/o dW gt·x", hidden, hidden, rows, 2 * layers),
        ("k/v dW gt·x", kv, hidden, rows, 2 * layers),
        ("gate/up dW gt·x", inter, hidden, rows, 2 * layers),
        ("down dW gt·x", hidden, inter, rows, layers),
        ("lm head fwd", labelled, vocab, hidden, 1),
        ("lm head dx", labelled, hidden, vocab, 1),
        ("lm head dW", vocab, hidden, labelled, 1),
    ]
}

fn main() {
    let threads: usize = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let (mut total_flops, mut total_s) = (0.0, 0.0);
    for (name, m, n, k, count) in shapes() {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.01).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.01).collect();
        let mut c = vec![0f32; m * n];
        let run = |c: &mut [f32]| unsafe {
            gemm::gemm(
                m, n, k, c.as_mut_ptr(), 1, n as isize, false, a.as_ptr(), 1, k as isize,
                b.as_ptr(), 1, n as isize, 0.0, 1.0, false, false, false, par,
            )
        };
        run(&mut c);
        let reps = 3;
        let start = cpu_seconds();
        for _ in 0..reps {
            run(&mut c);
        }
        let secs = (cpu_seconds() - start) / reps as f64;
        let flops = 2.0 * (m * n * k) as f64;
        println!("{name:>18} {m:>5}x{n:<5}x{k:<5} {:7.1} GFLOP/CPU-s", flops / secs / 1e9);
        total_flops += flops * count as f64;
        total_s += secs * count as f64;
    }
    println!(
        "one step's matmuls: {:.1} GFLOP in {:.2} CPU-s = {:.1} GFLOP/CPU-s ({threads} thread(s))",
        total_flops / 1e9,
        total_s,
        total_flops / total_s / 1e9
    );
}
