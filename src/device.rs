//! The device models are loaded onto for training, evaluation and generation.
//!
//! Chosen once per process (`--device`, or `PLANTUNE_DEVICE`) rather than passed down:
//! train workers are separate processes started by the CLI and by the TUI, and the
//! environment variable is what reaches them unchanged.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock, PoisonError};

use anyhow::{Result, bail};
use candle_core::{DType, Device, DeviceLocation};

use crate::model::config::Config;
use crate::model::decoder::Model;
use crate::model::{checkpoint, decoder_error};

/// Carries the choice into child processes (train workers).
pub const DEVICE_ENV: &str = "PLANTUNE_DEVICE";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    #[default]
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(ordinal)) => Ok(Self::Cuda(ordinal)),
                _ => Err(format!(
                    "unknown device `{s}` (expected cpu, cuda or cuda:N)"
                )),
            },
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(ordinal) => write!(f, "cuda:{ordinal}"),
        }
    }
}

/// Opens the device; a CUDA one only in a binary built with the `cuda` feature.
pub fn open(spec: DeviceSpec) -> candle_core::Result<Device> {
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda(ordinal) => {
            check_supported(spec).map_err(candle_core::Error::msg)?;
            Device::new_cuda(ordinal)
        }
    }
}

fn check_supported(spec: DeviceSpec) -> Result<()> {
    if matches!(spec, DeviceSpec::Cuda(_)) && !cfg!(feature = "cuda") {
        bail!(
            "--device {spec}: this binary was built without CUDA; rebuild with \
             `cargo build --release --features cuda` (see bench/cuda-toolchain.sh)"
        );
    }
    Ok(())
}

impl serde::Serialize for DeviceSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

static SELECTED: OnceLock<DeviceSpec> = OnceLock::new();

// Opened on first use, not at selection: the TUI and most commands never load a
// model, and a CUDA context would cost them start-up time and GPU memory. One per
// process, because candle gives every `Device::new_cuda` its own context and stream
// and refuses to mix tensors from two of them.
static OPENED: Mutex<Option<Device>> = Mutex::new(None);

/// Makes `spec` the device of this process and of the workers it starts. Selecting
/// the same device again is a no-op; another one is an error.
pub fn select(spec: DeviceSpec) -> Result<()> {
    check_supported(spec)?;
    let selected = *SELECTED.get_or_init(|| spec);
    if selected != spec {
        bail!("the device is already {selected}; it cannot change to {spec} in one process");
    }
    if std::env::var(DEVICE_ENV).ok() != Some(spec.to_string()) {
        // SAFETY: called from the command line dispatch before this process starts
        // any other thread, so nothing reads the environment concurrently.
        unsafe { std::env::set_var(DEVICE_ENV, spec.to_string()) };
    }
    Ok(())
}

/// The device `select` chose, if any call did.
pub fn selected() -> Option<DeviceSpec> {
    SELECTED.get().copied()
}

/// The selected device (the CPU when none was), opened on first call.
pub fn current() -> candle_core::Result<Device> {
    let spec = SELECTED.get().copied().unwrap_or_default();
    if spec == DeviceSpec::Cpu {
        return Ok(Device::Cpu);
    }
    let mut opened = OPENED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(device) = opened.as_ref() {
        return Ok(device.clone());
    }
    let device = open(spec)?;
    *opened = Some(device.clone());
    Ok(device)
}

/// How run events name a device: `cpu`, `cuda:N` (the `--device` syntax).
pub fn label(device: &Device) -> String {
    match device.location() {
        DeviceLocation::Cpu => DeviceSpec::Cpu.to_string(),
        DeviceLocation::Cuda { gpu_id } => DeviceSpec::Cuda(gpu_id).to_string(),
        DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// [`checkpoint::load_model`] onto the selected device.
pub fn load_model(dir: &Path, dtype: DType) -> decoder_error::Result<(Model, Config)> {
    checkpoint::load_model(dir, dtype, &current()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!("cpu".parse::<DeviceSpec>(), Ok(DeviceSpec::Cpu));
        assert_eq!("CUDA".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(0)));
        assert_eq!("cuda:3".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(3)));
        assert!("cuda:".parse::<DeviceSpec>().is_err());
        assert!("gpu".parse::<DeviceSpec>().is_err());
        assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
        assert_eq!(label(&Device::Cpu), "cpu");
    }

    #[test]
    fn round_trips_through_toml_as_the_flag_syntax() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Holder {
            device: DeviceSpec,
        }
        let text = toml::to_string(&Holder {
            device: DeviceSpec::Cuda(1),
        })
        .unwrap();
        assert_eq!(text.trim(), r#"device = "cuda:1""#);
        assert_eq!(
            toml::from_str::<Holder>(&text).unwrap().device,
            DeviceSpec::Cuda(1)
        );
        let err = toml::from_str::<Holder>(r#"device = "tpu""#).unwrap_err();
        assert!(err.to_string().contains("unknown device `tpu`"), "{err}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_on_a_cpu_build_says_how_to_rebuild() {
        let err = select(DeviceSpec::Cuda(0)).expect_err("CPU-only build");
        assert!(err.to_string().contains("--features cuda"), "{err}");
    }
}
