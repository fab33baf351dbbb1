use super::*;

#[test]
fn cache_keys_change_with_every_part_of_the_request() {
    let sampling = Sampling {
        model: "m".into(),
        temperature: 0.7,
        top_p: Some(1.0),
        max_tokens: Some(10),
        seed: Some(0),
    };
    let messages = vec![Message::user("hi")];
    let key = cache_key(&messages, &sampling);
    assert_eq!(key, cache_key(&messages, &sampling.clone()));
    assert_eq!(key.len(), 64);
    let variants = [
        cache_key(&[Message::user("hi!")], &sampling),
        cache_key(&[Message::system("hi")], &sampling),
        cache_key(
            &messages,
            &Sampling {
                model: "n".into(),
                ..sampling.clone()
            },
        ),
        cache_key(
            &messages,
            &Sampling {
                temperature: 0.0,
                ..sampling.clone()
            },
        ),
        cache_key(
            &messages,
            &Sampling {
                seed: Some(1),
                ..sampling.clone()
            },
        ),
        cache_key(
            &messages,
            &Sampling {
                max_tokens: None,
                ..sampling.clone()
            },
        ),
    ];
    for variant in variants {
        assert_ne!(variant, key);
    }
}

#[test]
fn executions_are_graded_by_mathematical_equivalence() {
    let (extracted, correct, _) = grade_execution(r"so $x = \boxed{\frac{1}{2}}$", "0.5", "");
    assert_eq!(
        (extracted.as_deref(), correct),
        (Some("\\frac{1}{2}"), Some(true))
    );
    let (_, correct, reason) = grade_execution(r"\boxed{6}", "5", "");
    assert_eq!(correct, Some(false));
    assert!(!reason.is_empty());
    assert_eq!(grade_execution("no answer here", "5", "").1, Some(false));
}
