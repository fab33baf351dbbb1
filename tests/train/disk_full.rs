//! A checkpoint that cannot be written (the disk is full) fails with a message that
//! says so, leaves no partial checkpoint, and leaves the previous one intact.
//!
//! The filesystem is made to refuse the write with the process's file-size limit
//! (RLIMIT_FSIZE, the same refusal path as a full disk and needing no privileges),
//! which is why this is the only test in its binary: the limit is process-wide.

use candle_core::{DType, Device, Tensor, Var};
use plantune_tui::train::batch::DataCursor;
use plantune_tui::train::checkpoint::{self, CheckpointError, CheckpointState};
use plantune_tui::train::optim::{AdamW, AdamWConfig, NamedVar};

fn set_file_size_limit(bytes: libc::rlim_t) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall on a stack value.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) }, 0);
}

fn state(step: u64) -> CheckpointState {
    CheckpointState {
        step,
        cursor: DataCursor::default(),
        dataset_hash: Some("abc".into()),
        created_ms: 0,
        optimizer_steps: None,
    }
}

#[test]
fn a_checkpoint_the_disk_refuses_leaves_the_previous_one_intact() {
    // Without this the kernel kills the process (SIGXFSZ) instead of failing the write.
    // SAFETY: setting a signal disposition to SIG_IGN has no handler to race with.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("checkpoints");
    let device = Device::Cpu;
    let weight = Var::from_tensor(&Tensor::arange(0f32, 4096., &device).unwrap()).unwrap();
    let params = vec![NamedVar::new("w", weight.clone())];
    let optimizer = AdamW::new(params.clone(), AdamWConfig::default()).unwrap();

    let first = checkpoint::save(&root, &optimizer, &state(1), 3).unwrap();

    weight
        .set(&Tensor::full(7f32, 4096, &device).unwrap())
        .unwrap();
    // Room for a few KiB: less than the 16 KiB of weights the second save writes.
    set_file_size_limit(8 * 1024);
    let err =
        checkpoint::save(&root, &optimizer, &state(2), 3).expect_err("the write must be refused");
    set_file_size_limit(libc::RLIM_INFINITY);

    let message = err.to_string();
    println!("{message}");
    assert!(matches!(err, CheckpointError::NoSpace { .. }), "{err:?}");
    assert!(message.contains("trainable.safetensors"), "{message}");
    assert!(
        message.contains("previous checkpoint is intact"),
        "{message}"
    );

    let remaining: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        remaining,
        ["step-1"],
        "the partial temp directory is removed"
    );
    let listed = checkpoint::list(&root).unwrap();
    assert_eq!(listed, vec![(1, first.clone())]);

    let restored = Var::from_tensor(&Tensor::zeros(4096, DType::F32, &device).unwrap()).unwrap();
    let restored_params = vec![NamedVar::new("w", restored.clone())];
    let mut restored_optimizer =
        AdamW::new(restored_params.clone(), AdamWConfig::default()).unwrap();
    let loaded = checkpoint::load(&first, &mut restored_optimizer, &device).unwrap();
    assert_eq!(loaded.step, 1);
    let values: Vec<f32> = restored.as_tensor().to_vec1().unwrap();
    assert_eq!(
        values[4095], 4095.0,
        "step-1 weights, not the refused step-2 ones"
    );
}
