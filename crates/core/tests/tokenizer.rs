//! CLIP tokenizer golden ids (tests/reference/make_tokenizer_golden.py, Hugging Face tokenizers).

mod util;

use photo_search_core::text::ClipTokenizer;

#[test]
fn token_ids_match_the_golden_file() {
    let golden: serde_json::Value =
        serde_json::from_slice(&std::fs::read(util::repo().join("tests/reference/tokenizer_golden.json")).unwrap())
            .unwrap();
    let tokenizer =
        ClipTokenizer::from_file(&util::repo().join("models/clip-vit-base-patch32/tokenizer.json"), 77, 49407).unwrap();
    let cases = golden.as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(tokenizer.ids(text).unwrap(), expected, "{text:?}");
    }
}

#[test]
fn long_text_is_truncated_to_77_keeping_eos_last_and_short_text_is_padded() {
    let tokenizer =
        ClipTokenizer::from_file(&util::repo().join("models/clip-vit-base-patch32/tokenizer.json"), 77, 49407).unwrap();
    let long = tokenizer.encode(&"a dog on a beach ".repeat(40)).unwrap();
    assert_eq!(long.ids.len(), 77);
    assert_eq!((long.ids[0], long.ids[76]), (49406, 49407));
    assert!(long.mask.iter().all(|m| *m == 1));

    let short = tokenizer.encode("a photo of a cat").unwrap();
    assert_eq!(&short.ids[..7], &[49406, 320, 1125, 539, 320, 2368, 49407]);
    assert!(short.ids[7..].iter().all(|id| *id == 49407));
    assert_eq!(short.mask.iter().sum::<i64>(), 7);
}
