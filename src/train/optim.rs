//! AdamW with its state in plain tensors (so checkpoints can save and restore it
//! exactly), global-norm gradient clipping, and gradient accumulation.
//!
//! candle-nn's optimiser keeps its moments private, which makes bit-exact resume
//! impossible; this one exposes them.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::adamw_cpu;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Decay 1-D parameters (norm gains, biases) too. Off, as Hugging Face trainers do:
    /// shrinking a norm's gain towards zero is not regularisation.
    pub decay_1d: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decay_1d: false,
        }
    }
}

/// A trainable parameter with the name it is saved under.
#[derive(Debug, Clone)]
pub struct NamedVar {
    pub name: String,
    pub var: Var,
    /// The f32 weight the optimiser updates when `var` is half precision; `var` is
    /// its rounded copy. Taken from the source checkpoint where it was f32, so the
    /// run starts from the exact weights.
    pub master: Option<Var>,
}

impl NamedVar {
    pub fn new(name: impl Into<String>, var: Var) -> Self {
        Self {
            name: name.into(),
            var,
            master: None,
        }
    }

    /// A half-precision `var` with the f32 weight it was rounded from.
    pub fn with_master(name: impl Into<String>, var: Var, master: Var) -> Self {
        Self {
            name: name.into(),
            var,
            master: Some(master),
        }
    }

    /// The full-precision value: the master where there is one.
    pub fn value(&self) -> &Tensor {
        self.master.as_ref().unwrap_or(&self.var).as_tensor()
    }

    /// Rounds the master into the parameter after the master was updated in place.
    fn sync_from_master(&self) -> Result<()> {
        match &self.master {
            Some(master) => self
                .var
                .set(&master.as_tensor().to_dtype(self.var.dtype())?),
            None => Ok(()),
        }
    }

    /// Sets the parameter (and its master) from a full-precision value.
    pub fn set_value(&self, value: &Tensor) -> Result<()> {
        match &self.master {
            Some(master) => {
                master.set(&value.to_dtype(DType::F32)?)?;
                self.var.set(&value.to_dtype(self.var.dtype())?)
            }
            None => self.var.set(&value.to_dtype(self.var.dtype())?),
        }
    }
}

/// Gradients aligned with a parameter list; `None` for a parameter the loss never
/// reached (the training loop reports those: silent gradient stops are a known trap).
/// A clone shares the tensors, and [`Gradients::scale`] writes them in place.
#[derive(Debug, Clone)]
pub struct Gradients(pub Vec<Option<Tensor>>);

impl Gradients {
    pub fn from_store(params: &[NamedVar], store: &GradStore) -> Self {
        Self(
            params
                .iter()
                .map(|p| store.get(p.var.as_tensor()).cloned())
                .collect(),
        )
    }

    /// Adds another micro-batch's gradients (accumulation).
    pub fn accumulate(&mut self, other: Gradients) -> Result<()> {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine = match (mine.take(), theirs) {
                (Some(a), Some(b)) => Some((a + b)?),
                (a, b) => a.or(b),
            };
        }
        Ok(())
    }

    /// Multiplies every gradient by `factor`: in place on the CPU (the tensors are the
    /// backward pass's own results, so nothing else reads them; a fresh copy of every
    /// gradient cost 0.3 s of a SmolLM2 step at two threads), else by a new tensor.
    pub fn scale(&mut self, factor: f64) -> Result<()> {
        for grad in self.0.iter_mut().flatten() {
            if !adamw_cpu::scale_in_place(grad, factor)? {
                *grad = grad.affine(factor, 0.0)?;
            }
        }
        Ok(())
    }

    /// The global L2 norm over every gradient.
    pub fn global_norm(&self) -> Result<f64> {
        let mut sum = 0.0f64;
        for grad in self.0.iter().flatten() {
            sum += if grad.device().is_cpu() && grad.dtype() == DType::F32 {
                // One pass over the gradient, without a squared copy of it.
                adamw_cpu::sum_squares(grad)?
            } else {
                grad.to_dtype(DType::F32)?
                    .sqr()?
                    .sum_all()?
                    .to_scalar::<f32>()? as f64
            };
        }
        Ok(sum.sqrt())
    }

    /// Scales all gradients so their global norm is at most `max_norm`; returns the
    /// norm before clipping (what the `step` event reports).
    pub fn clip_global_norm(&mut self, max_norm: f64) -> Result<f64> {
        let norm = self.global_norm()?;
        if max_norm > 0.0 && norm > max_norm {
            self.scale(max_norm / (norm + 1e-6))?;
        }
        Ok(norm)
    }

    pub fn all_finite(&self) -> Result<bool> {
        Ok(self.global_norm()?.is_finite())
    }

    /// Names of parameters that received no gradient.
    pub fn missing<'a>(&self, params: &'a [NamedVar]) -> Vec<&'a str> {
        params
            .iter()
            .zip(&self.0)
            .filter(|(_, g)| g.is_none())
            .map(|(p, _)| p.name.as_str())
            .collect()
    }
}

pub struct AdamW {
    params: Vec<NamedVar>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    step: u64,
    config: AdamWConfig,
    /// Tensor ops even where the single-pass CPU update applies (the reference the
    /// fused update is tested against).
    composed: bool,
}

impl AdamW {
    /// Half-precision parameters without a master get one, upcast from their value.
    pub fn new(mut params: Vec<NamedVar>, config: AdamWConfig) -> Result<Self> {
        for p in &mut params {
            if p.master.is_none() && p.var.dtype() != DType::F32 {
                let upcast = p.var.as_tensor().detach().to_dtype(DType::F32)?;
                p.master = Some(Var::from_tensor(&upcast)?);
            }
        }
        let zeros = |p: &NamedVar| Tensor::zeros(p.var.shape(), DType::F32, p.var.device());
        let first = params.iter().map(zeros).collect::<Result<Vec<_>>>()?;
        let second = params.iter().map(zeros).collect::<Result<Vec<_>>>()?;
        Ok(Self {
            params,
            first,
            second,
            step: 0,
            config,
            composed: false,
        })
    }

    /// The same optimiser updating through tensor ops only.
    pub fn composed(mut self) -> Self {
        self.composed = true;
        self
    }

    /// The parameters, with the masters this optimiser created; checkpoints save these.
    pub fn params(&self) -> &[NamedVar] {
        &self.params
    }

    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// One update with learning rate `lr`. Moments and the update are computed in f32
    /// whatever the parameter dtype; a half-precision parameter's f32 master takes the
    /// update and the parameter becomes its rounded copy.
    pub fn step(&mut self, grads: &Gradients, lr: f64) -> Result<()> {
        self.step += 1;
        let AdamWConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
            decay_1d,
        } = self.config;
        let t = self.step as i32;
        let bias1 = 1.0 - beta1.powi(t);
        let bias2 = 1.0 - beta2.powi(t);
        for (i, param) in self.params.iter().enumerate() {
            let Some(grad) = &grads.0[i] else { continue };
            let decays = weight_decay != 0.0 && (decay_1d || param.var.rank() > 1);
            let target = param.master.as_ref().unwrap_or(&param.var);
            if !self.composed && adamw_cpu::applies(target, &self.first[i], &self.second[i]) {
                let scalars = adamw_cpu::StepScalars {
                    beta1,
                    beta2,
                    eps,
                    bias1,
                    bias2,
                    lr,
                    decay: decays.then_some(weight_decay),
                };
                adamw_cpu::update(target, grad, &self.first[i], &self.second[i], scalars)?;
                param.sync_from_master()?;
                continue;
            }
            let grad = grad.to_dtype(DType::F32)?;
            let m = ((&self.first[i] * beta1)? + (&grad * (1.0 - beta1))?)?;
            let v = ((&self.second[i] * beta2)? + (grad.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&m / bias1)?;
            let v_hat = (&v / bias2)?;
            let update = (m_hat / (v_hat.sqrt()? + eps)?)?;
            let mut value = target.as_tensor().to_dtype(DType::F32)?;
            if decays {
                value = (&value * (1.0 - lr * weight_decay))?;
            }
            let value = (value - (update * lr)?)?;
            param.set_value(&value)?;
            self.first[i] = m;
            self.second[i] = v;
        }
        Ok(())
    }

    /// The optimiser state as named tensors, for checkpoints. They share storage with
    /// the moments, which the next step updates in place: write them out before it.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut state = HashMap::new();
        for (i, p) in self.params.iter().enumerate() {
            state.insert(format!("exp_avg.{}", p.name), self.first[i].clone());
            state.insert(format!("exp_avg_sq.{}", p.name), self.second[i].clone());
        }
        state
    }

    /// Restores moments and the step count saved by [`AdamW::state`].
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>, step: u64) -> Result<()> {
        for (i, p) in self.params.iter().enumerate() {
            let get = |prefix: &str| {
                state
                    .get(&format!("{prefix}.{}", p.name))
                    .cloned()
                    .ok_or_else(|| {
                        candle_core::Error::Msg(format!(
                            "optimizer state has no {prefix}.{} (a checkpoint of another model?)",
                            p.name
                        ))
                    })
            };
            // Copies: the steps write the moments in place, and the caller's tensors
            // (another optimiser's state, say) must not move with them.
            self.first[i] = get("exp_avg")?.to_dtype(DType::F32)?.copy()?;
            self.second[i] = get("exp_avg_sq")?.to_dtype(DType::F32)?.copy()?;
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn scalar_param(value: f32) -> NamedVar {
        NamedVar::new(
            "w",
            Var::from_tensor(&Tensor::new(&[[value]], &Device::Cpu).unwrap()).unwrap(),
        )
    }

    fn value(p: &NamedVar) -> f32 {
        p.var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()[0]
    }

    fn grad(g: f32) -> Gradients {
        Gradients(vec![Some(Tensor::new(&[[g]], &Device::Cpu).unwrap())])
    }

    #[test]
    fn adamw_matches_hand_computed_steps() {
        // p=1, g=0.5, lr=0.1, wd=0.01 (PyTorch's AdamW gives the same):
        // step 1: p = 1*(1-0.001) - 0.1 * (0.5/0.5) = 0.899
        // step 2: p = 0.899*(1-0.001) - 0.1 * 1 = 0.798101
        let mut opt = AdamW::new(
            vec![scalar_param(1.0)],
            AdamWConfig {
                weight_decay: 0.01,
                ..Default::default()
            },
        )
        .unwrap();
        opt.step(&grad(0.5), 0.1).unwrap();
        assert!((value(&opt.params()[0]) - 0.899).abs() < 1e-6);
        opt.step(&grad(0.5), 0.1).unwrap();
        assert!((value(&opt.params()[0]) - 0.798_101).abs() < 1e-6);
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let config = AdamWConfig::default();
        let mut a = AdamW::new(vec![scalar_param(1.0)], config).unwrap();
        a.step(&grad(0.3), 0.01).unwrap();
        let mut b = AdamW::new(vec![scalar_param(value(&a.params()[0]))], config).unwrap();
        b.load_state(&a.state(), a.steps_taken()).unwrap();
        a.step(&grad(-0.7), 0.01).unwrap();
        b.step(&grad(-0.7), 0.01).unwrap();
        assert_eq!(
            value(&a.params()[0]).to_bits(),
            value(&b.params()[0]).to_bits()
        );
    }

    /// The single-pass CPU update must give the composed update's bits exactly, or
    /// seeded runs and resumed checkpoints would change with it.
    #[test]
    fn scaling_in_place_is_bit_identical_to_affine() {
        let values: Vec<f32> = (0..70_001).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let g = Tensor::from_vec(values, (70_001,), &Device::Cpu).unwrap();
        let expected = g
            .affine(0.123_456_7, 0.0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mut grads = Gradients(vec![Some(g.copy().unwrap()), None]);
        grads.scale(0.123_456_7).unwrap();
        let got = grads.0[0].as_ref().unwrap().to_vec1::<f32>().unwrap();
        assert!(
            got.iter()
                .zip(&expected)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        // A strided view or another dtype is left alone (the caller copies it).
        let wide = Tensor::ones((4, 6), candle_core::DType::F32, &Device::Cpu).unwrap();
        let view = wide.narrow(1, 0, 3).unwrap();
        assert!(!adamw_cpu::scale_in_place(&view, 2.0).unwrap());
        let doubles = Tensor::ones(5, candle_core::DType::F64, &Device::Cpu).unwrap();
        assert!(!adamw_cpu::scale_in_place(&doubles, 2.0).unwrap());
        assert_eq!(wide.sum_all().unwrap().to_scalar::<f32>().unwrap(), 24.0);
    }

    #[test]
    fn fused_cpu_update_is_bit_identical_to_the_composed_one() {
        let dev = Device::Cpu;
        let params = |seed: u64| -> Vec<NamedVar> {
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
            let mut values = |n: usize| -> Vec<f32> {
                (0..n)
                    .map(|_| rand::Rng::random_range(&mut rng, -2.0..2.0))
                    .collect()
            };
            vec![
                NamedVar::new(
                    "matrix",
                    Var::from_tensor(&Tensor::from_vec(values(70_000), (350, 200), &dev).unwrap())
                        .unwrap(),
                ),
                NamedVar::new(
                    "gain",
                    Var::from_tensor(&Tensor::from_vec(values(33), 33, &dev).unwrap()).unwrap(),
                ),
            ]
        };
        let config = AdamWConfig {
            weight_decay: 0.1,
            ..Default::default()
        };
        let mut fused = AdamW::new(params(1), config).unwrap();
        let mut composed = AdamW::new(params(1), config).unwrap().composed();
        for step in 0..4u64 {
            let grads = Gradients(
                params(100 + step)
                    .iter()
                    .map(|p| {
                        // Exact zeros too: they take the `+ 0.0` paths.
                        let g = (p.var.as_tensor() * 1e-3).unwrap();
                        Some(g.relu().unwrap())
                    })
                    .collect(),
            );
            fused.step(&grads, 3e-3).unwrap();
            composed.step(&grads, 3e-3).unwrap();
        }
        let bits = |t: &Tensor| -> Vec<u32> {
            t.flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .into_iter()
                .map(f32::to_bits)
                .collect()
        };
        for (a, b) in fused.params().iter().zip(composed.params()) {
            assert_eq!(
                bits(a.var.as_tensor()),
                bits(b.var.as_tensor()),
                "{}",
                a.name
            );
        }
        for (name, tensor) in fused.state() {
            assert_eq!(bits(&tensor), bits(&composed.state()[&name]), "{name}");
        }
    }

    /// 1e-4 steps on a bf16 weight at 1.0 (whose neighbours are 2⁻⁷ away) round
    /// away one by one; the f32 master adds them up and the weight follows it.
    #[test]
    fn half_precision_weights_move_through_their_f32_master() {
        let one = Tensor::new(&[[1.0f32]], &Device::Cpu).unwrap();
        let bf16 = |t: &Tensor| Var::from_tensor(&t.to_dtype(DType::BF16).unwrap()).unwrap();
        let mastered = NamedVar::with_master("w", bf16(&one), Var::from_tensor(&one).unwrap());
        let mut with_master = AdamW::new(vec![mastered], AdamWConfig::default()).unwrap();
        // Without a master the optimiser makes one: same result.
        let mut upcast = AdamW::new(vec![NamedVar::new("w", bf16(&one))], Default::default())
            .unwrap()
            .composed();
        let grad = Gradients(vec![Some(
            Tensor::new(&[[0.5f32]], &Device::Cpu)
                .unwrap()
                .to_dtype(DType::BF16)
                .unwrap(),
        )]);
        for _ in 0..100 {
            with_master.step(&grad, 1e-4).unwrap();
            upcast.step(&grad, 1e-4).unwrap();
        }
        for opt in [&with_master, &upcast] {
            let p = &opt.params()[0];
            let master = value(&NamedVar::new("m", p.master.clone().unwrap()));
            assert!((master - 0.99).abs() < 1e-5, "master {master}");
            let weight: f32 = p
                .var
                .as_tensor()
                .to_dtype(DType::F32)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()[0];
            assert_eq!(weight, half::bf16::from_f32(master).to_f32());
            assert_eq!(p.var.dtype(), DType::BF16);
        }
    }

    #[test]
    fn clipping_and_accumulation() {
        let mut g = Gradients(vec![
            Some(Tensor::new(&[3.0f32], &Device::Cpu).unwrap()),
            Some(Tensor::new(&[4.0f32], &Device::Cpu).unwrap()),
            None,
        ]);
        g.accumulate(Gradients(vec![
            None,
            None,
            Some(Tensor::new(&[0.0f32], &Device::Cpu).unwrap()),
        ]))
        .unwrap();
        let before = g.clip_global_norm(1.0).unwrap();
        assert!((before - 5.0).abs() < 1e-9);
        assert!((g.global_norm().unwrap() - 1.0).abs() < 1e-5);
        assert!(g.all_finite().unwrap());
        let nan = Gradients(vec![Some(Tensor::new(&[f32::NAN], &Device::Cpu).unwrap())]);
        assert!(!nan.all_finite().unwrap());
    }
}
