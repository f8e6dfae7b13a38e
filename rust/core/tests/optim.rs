//! The optimizer driver: a rule against a hand-computed step, chunking that
//! does not change results, aliasing checks, state allocation and counting.

use dlcore_core::cpu::optim::adam::{Adam, Moments};
use dlcore_core::cpu::optim::sgd::Sgd;
use dlcore_core::ops::optim::{step, Config, ParamState};
use dlcore_core::Tensor;

fn t(v: Vec<f32>) -> Tensor {
    let n = v.len();
    Tensor::from_vec(v, &[n]).unwrap()
}

fn adam() -> Config {
    Config::Adam(Adam {
        m: Moments {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            maximize: false,
        },
        amsgrad: false,
    })
}

fn fresh(n: usize, bufs: usize) -> Vec<ParamState> {
    (0..n)
        .map(|_| ParamState {
            bufs: vec![None; bufs],
            step: 0.0,
            aux: 1.0,
        })
        .collect()
}

#[test]
fn first_adam_step_moves_by_lr_and_counts() {
    let p = t(vec![1.0, 2.0, 3.0]);
    let g = t(vec![0.5, -2.0, 0.0]);
    let out = step(&adam(), &[p.clone()], &[g], fresh(1, 2)).unwrap();
    // first step: m̂ = g, v̂ = g², so the move is lr·g/(|g| + eps)
    let v = p.to_vec::<f32>();
    assert!(
        (v[0] - 0.9).abs() < 1e-6 && (v[1] - 2.1).abs() < 1e-6 && v[2] == 3.0,
        "{v:?}"
    );
    assert_eq!(out[0].step, 1.0);
    assert_eq!(out[0].bufs.len(), 2);
    let m = out[0].bufs[0].as_ref().unwrap().to_vec::<f32>();
    assert!((m[0] - 0.05).abs() < 1e-7);
}

#[test]
fn chunked_tensor_equals_elementwise_small_tensors() {
    // 200_003 elements (several chunks, ragged tail) vs the same values as
    // 1-element tensors: the per-element update must not depend on chunking
    let n = 200_003;
    let pv: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
        .collect();
    let gv: Vec<f32> = (0..n)
        .map(|i| ((i * 53 % 89) as f32 - 44.0) / 9.0)
        .collect();
    let big = t(pv.clone());
    step(&adam(), &[big.clone()], &[t(gv.clone())], fresh(1, 2)).unwrap();
    let idx = [0usize, 1, 65_535, 65_536, 131_072, n - 1];
    let small: Vec<Tensor> = idx.iter().map(|&i| t(vec![pv[i]])).collect();
    let grads: Vec<Tensor> = idx.iter().map(|&i| t(vec![gv[i]])).collect();
    step(&adam(), &small, &grads, fresh(idx.len(), 2)).unwrap();
    let b = big.to_vec::<f32>();
    for (k, &i) in idx.iter().enumerate() {
        assert_eq!(
            b[i].to_bits(),
            small[k].to_vec::<f32>()[0].to_bits(),
            "element {i}"
        );
    }
}

#[test]
fn overlapping_parameters_and_aliasing_state_are_errors() {
    let base = t(vec![0.0; 8]);
    let a = base.alias(vec![5], vec![1], 0);
    let b = base.alias(vec![5], vec![1], 3);
    let g = t(vec![1.0; 5]);
    let sgd = Config::Sgd(Sgd {
        lr: 1.0,
        momentum: 0.0,
        dampening: 0.0,
        nesterov: false,
        weight_decay: 0.0,
        maximize: false,
    });
    let e = step(&sgd, &[a.clone(), b], &[g.clone(), g.clone()], fresh(2, 0)).unwrap_err();
    assert!(
        e.msg
            .contains("sgd: parameter 1 shares memory with parameter 0"),
        "{}",
        e.msg
    );
    // a gradient that is the parameter itself
    let e = step(&sgd, &[a.clone()], &[a.clone()], fresh(1, 0)).unwrap_err();
    assert!(e.msg.contains("shares memory"), "{}", e.msg);
    // disjoint views of one buffer are fine
    let c = base.alias(vec![3], vec![1], 5);
    step(&sgd, &[a, c], &[g, t(vec![1.0; 3])], fresh(2, 0)).unwrap();
    assert_eq!(base.to_vec::<f32>(), vec![-1.0; 8]);
}

#[test]
fn wrong_state_count_and_shapes_are_errors() {
    let p = t(vec![1.0; 4]);
    let g = t(vec![1.0; 4]);
    let e = step(&adam(), &[p.clone()], &[g.clone()], fresh(1, 1)).unwrap_err();
    assert!(
        e.msg
            .contains("adam: parameter 0 has 1 state buffers, expected 2"),
        "{}",
        e.msg
    );
    let bad = ParamState {
        bufs: vec![Some(t(vec![0.0; 3])), None],
        step: 0.0,
        aux: 1.0,
    };
    let e = step(&adam(), &[p.clone()], &[g.clone()], vec![bad]).unwrap_err();
    assert!(
        e.msg
            .contains("adam: state 'exp_avg' of parameter 0 has shape [3]"),
        "{}",
        e.msg
    );
    let e = step(&adam(), &[p], &[t(vec![1.0; 5])], fresh(1, 2)).unwrap_err();
    assert!(
        e.msg.contains("adam: gradient 0 has shape [5]"),
        "{}",
        e.msg
    );
}
