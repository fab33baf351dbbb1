//! Gradient checks that return their findings instead of asserting, so the test suite
//! (`tests/model/fused.rs`, `tests/model/grads.rs`) and `bench gpu-check` on a lent GPU
//! run the same code: every input entry against a central difference in f64, and an
//! op's values and gradients against a reference implementation in f32.

pub mod cases;

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Step of the central differences, and the bound on `|numeric - analytic|` relative
/// to `1 + |numeric|`: f64 leaves about 1e-10 of rounding at this step.
pub const FD_EPS: f64 = 1e-6;
pub const FD_TOLERANCE: f64 = 1e-6;

/// The loss every check differentiates is `sum(op(inputs) * probe)`, with the probe
/// drawn from this seed so two runs (two devices) use the same one.
const PROBE_SEED: u64 = 99;

/// A differentiable function of some tensors.
pub type Op<'a> = &'a dyn Fn(&[Tensor]) -> Result<Tensor>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Analytic gradients against central differences, f64.
    FiniteDifferences,
    /// Values and gradients against a reference implementation, f32.
    Reference,
}

/// One check's outcome: its worst error against its tolerance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub kind: CheckKind,
    pub worst: f64,
    pub tolerance: f64,
    pub passed: bool,
    /// Where the worst error was.
    pub detail: String,
}

impl Check {
    fn new(name: &str, kind: CheckKind, worst: Worst, tolerance: f64) -> Self {
        Self {
            name: name.to_string(),
            kind,
            passed: worst.error <= tolerance && worst.error.is_finite(),
            worst: worst.error,
            tolerance,
            detail: worst.detail,
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({:?}): worst {:.3e} (tolerance {:.0e}) at {}",
            self.name, self.kind, self.worst, self.tolerance, self.detail
        )
    }
}

/// The largest error seen so far and where. NaN counts as the worst possible.
#[derive(Debug, Default)]
struct Worst {
    error: f64,
    detail: String,
}

impl Worst {
    fn note(&mut self, error: f64, detail: impl FnOnce() -> String) {
        let error = if error.is_nan() { f64::INFINITY } else { error };
        if error > self.error || self.detail.is_empty() {
            self.error = error.max(self.error);
            self.detail = detail();
        }
    }
}

/// Uniform in (-1.5, 1.5) from `seed`, drawn in f64 on the CPU so every device and
/// dtype gets the same values (rounded to `dtype`).
pub fn rand_tensor(shape: &[usize], seed: u64, dtype: DType, device: &Device) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(-1.5..1.5)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(device)
}

/// An f64 variable of random values on `device`.
pub fn rand_var(shape: &[usize], seed: u64, device: &Device) -> Result<Var> {
    Var::from_tensor(&rand_tensor(shape, seed, DType::F64, device)?)
}

pub fn flat(t: &Tensor) -> Result<Vec<f64>> {
    t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()
}

/// `max |a - b|` in f64, on the CPU (the two may live on different devices).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    let a = a.to_device(&Device::Cpu)?.to_dtype(DType::F64)?;
    let b = b.to_device(&Device::Cpu)?.to_dtype(DType::F64)?;
    (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f64>()
}

/// Every entry of every input's gradient of `sum(f(inputs) * probe)` against a
/// central difference. The inputs must be f64 variables; they are restored after.
pub fn finite_differences(name: &str, inputs: &[Var], f: Op) -> Result<Check> {
    let current = || -> Vec<Tensor> { inputs.iter().map(|v| v.as_tensor().clone()).collect() };
    let out = f(&current())?;
    let probe = rand_tensor(out.dims(), PROBE_SEED, DType::F64, out.device())?;
    let scalar = |ts: &[Tensor]| f(ts)?.mul(&probe)?.sum_all();
    let grads = scalar(&current())?.backward()?;
    let mut worst = Worst::default();
    for (k, v) in inputs.iter().enumerate() {
        let Some(g) = grads.get(v) else {
            candle_core::bail!("{name}: input {k} got no gradient");
        };
        let analytic = flat(g)?;
        let base = flat(v.as_tensor())?;
        let set = |values: Vec<f64>| -> Result<()> {
            v.set(&Tensor::from_vec(values, v.shape(), v.device())?)
        };
        for (idx, &ana) in analytic.iter().enumerate() {
            let at = |delta: f64| -> Result<f64> {
                let mut moved = base.clone();
                moved[idx] += delta;
                set(moved)?;
                scalar(&current())?.to_scalar::<f64>()
            };
            let num = (at(FD_EPS)? - at(-FD_EPS)?) / (2.0 * FD_EPS);
            worst.note((num - ana).abs() / (1.0 + num.abs()), || {
                format!("input {k} entry {idx}: analytic {ana} vs numeric {num}")
            });
        }
        set(base)?;
    }
    Ok(Check::new(
        name,
        CheckKind::FiniteDifferences,
        worst,
        FD_TOLERANCE,
    ))
}

/// Runs `f` on variables made from `bases` and returns its output and the gradient of
/// `sum(out * probe)` for each base.
pub fn value_and_grads(bases: &[Tensor], f: Op) -> Result<(Tensor, Vec<Tensor>)> {
    let vars = bases
        .iter()
        .map(Var::from_tensor)
        .collect::<Result<Vec<_>>>()?;
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&ts)?;
    let probe = rand_tensor(out.dims(), PROBE_SEED, out.dtype(), out.device())?;
    let grads = out.mul(&probe)?.sum_all()?.backward()?;
    let gs = vars
        .iter()
        .enumerate()
        .map(|(k, v)| match grads.get(v) {
            Some(g) => Ok(g.clone()),
            None => candle_core::bail!("input {k} got no gradient"),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((out, gs))
}

/// Values and gradients of `candidate` against `reference`, each on its own inputs
/// (the same values, possibly on another device), within `tolerance` absolute.
pub fn against_reference(
    name: &str,
    reference: (&[Tensor], Op),
    candidate: (&[Tensor], Op),
    tolerance: f64,
) -> Result<Check> {
    let (y_ref, g_ref) = value_and_grads(reference.0, reference.1)?;
    let (y, g) = value_and_grads(candidate.0, candidate.1)?;
    let mut worst = Worst::default();
    worst.note(max_abs_diff(&y, &y_ref)?, || "values".to_string());
    for (k, (a, b)) in g.iter().zip(&g_ref).enumerate() {
        worst.note(max_abs_diff(a, b)?, || format!("gradient of input {k}"));
    }
    Ok(Check::new(name, CheckKind::Reference, worst, tolerance))
}
