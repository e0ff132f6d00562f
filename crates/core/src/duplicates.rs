//! Duplicates and similar shots, kept apart. Exact duplicates share their bytes: the catalog's
//! content hash (sampled) proposes them and a full hash of each file confirms them. Similar shots
//! are photos whose vectors are close: grouped by complete linkage, so every two photos of a
//! group are close (a chain A~B~C with A and C far apart does not become one group), with a bound
//! on a group's size. Nothing here deletes anything.

use std::collections::HashMap;
use std::path::PathBuf;

/// Photos that are the same (exact) or look alike (similar), by id and path.
pub type Group = Vec<(i64, PathBuf)>;

/// Named similarity thresholds (cosine every two photos of a group reach), loosest last:
/// near-identical (bursts, re-encoded copies), same-scene (shots moments apart), related.
/// Provisional: set on what CLIP's image vectors do with bursts and re-encodings.
pub const PRESETS: &[(&str, f32)] = &[("near-identical", 0.97), ("same-scene", 0.92), ("related", 0.85)];

/// Photos a similar group holds at most, unless chosen otherwise.
pub const DEFAULT_MAX_GROUP: usize = 20;

/// The threshold of a preset by name.
pub fn preset(name: &str) -> Option<f32> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Splits groups that share a sampled content hash into groups whose files have the same bytes
/// (a full BLAKE3 of each file); files that cannot be read are left out.
pub fn confirm_exact(candidates: Vec<Group>) -> Vec<Group> {
    let mut confirmed = Vec::new();
    for group in candidates {
        let mut by_bytes: HashMap<[u8; 32], Group> = HashMap::new();
        for (id, path) in group {
            let hashed = std::fs::File::open(&path).and_then(|mut file| {
                let mut hasher = blake3::Hasher::new();
                std::io::copy(&mut file, &mut hasher)?;
                Ok(*hasher.finalize().as_bytes())
            });
            match hashed {
                Ok(hash) => by_bytes.entry(hash).or_default().push((id, path)),
                Err(err) => tracing::debug!("{}: left out of the duplicates ({err})", path.display()),
            }
        }
        let mut groups: Vec<Group> = by_bytes.into_values().filter(|g| g.len() > 1).collect();
        groups.sort();
        confirmed.extend(groups);
    }
    confirmed
}

/// Groups by complete linkage: `pairs` are (a, b, similarity) candidates; two groups merge, best
/// pair first, only when every photo of one is at least `threshold` similar to every photo of the
/// other (`similarity` answers for any two) and the result holds at most `max_size` photos.
/// Returns the groups of two or more, largest first.
pub fn complete_linkage(
    mut pairs: Vec<(i64, i64, f32)>,
    similarity: impl Fn(i64, i64) -> f32,
    threshold: f32,
    max_size: usize,
) -> Vec<Vec<i64>> {
    pairs.retain(|(a, b, s)| a != b && *s >= threshold);
    pairs.sort_by(|x, y| y.2.total_cmp(&x.2).then(x.0.cmp(&y.0)).then(x.1.cmp(&y.1)));
    let mut group_of: HashMap<i64, usize> = HashMap::new();
    let mut groups: Vec<Vec<i64>> = Vec::new();
    for (a, b, _) in pairs {
        let ga = *group_of.entry(a).or_insert_with(|| {
            groups.push(vec![a]);
            groups.len() - 1
        });
        let gb = *group_of.entry(b).or_insert_with(|| {
            groups.push(vec![b]);
            groups.len() - 1
        });
        if ga == gb || groups[ga].len() + groups[gb].len() > max_size {
            continue;
        }
        let close = groups[ga].iter().all(|x| groups[gb].iter().all(|y| similarity(*x, *y) >= threshold));
        if !close {
            continue;
        }
        let moved = std::mem::take(&mut groups[gb]);
        for id in &moved {
            group_of.insert(*id, ga);
        }
        groups[ga].extend(moved);
    }
    let mut found: Vec<Vec<i64>> = groups.into_iter().filter(|g| g.len() > 1).collect();
    for group in &mut found {
        group.sort();
    }
    found.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    found
}

/// The preset a results list folds similar shots by ("group similar shots" in the app).
pub const FOLD_PRESET: &str = "same-scene";

/// Photos one results tile stands for at most (itself and its similar shots).
pub const MAX_FOLDED: usize = 50;

/// One tile of a results list whose similar shots are folded: the best-ranked photo of the
/// shots, and the others in rank order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// The photo the tile shows.
    pub id: i64,
    /// Its score for the query.
    pub score: f32,
    /// The similar shots folded into it, with their scores.
    pub similar: Vec<(i64, f32)>,
    /// The photo's position in the ranking before folding.
    pub rank: usize,
}

/// Appends `ranked` results (best first, ranks counted from `first_rank`) to `tiles`, folding
/// each into the first tile at `open_from` or later whose photo it is at least `threshold`
/// similar to (so every photo of a tile is close to the photo shown, and a chain does not grow a
/// tile), and into no tile that already holds [`MAX_FOLDED`] photos. Tiles before `open_from`
/// were already shown and stay as they are. A photo without a vector stays a tile of its own.
pub fn fold_similar(
    tiles: &mut Vec<Tile>,
    open_from: usize,
    ranked: &[(i64, f32)],
    first_rank: usize,
    vector: impl Fn(i64) -> Option<Vec<f32>>,
    threshold: f32,
) {
    let mut open: Vec<(usize, Option<Vec<f32>>)> =
        tiles.iter().enumerate().skip(open_from).map(|(i, tile)| (i, vector(tile.id))).collect();
    for (offset, &(id, score)) in ranked.iter().enumerate() {
        let mine = vector(id);
        let home = mine.as_ref().and_then(|v| {
            open.iter().find(|(i, leader)| {
                tiles[*i].similar.len() + 1 < MAX_FOLDED
                    && leader.as_ref().is_some_and(|l| l.iter().zip(v).map(|(a, b)| a * b).sum::<f32>() >= threshold)
            })
        });
        match home {
            Some((i, _)) => tiles[*i].similar.push((id, score)),
            None => {
                open.push((tiles.len(), mine));
                tiles.push(Tile { id, score, similar: Vec::new(), rank: first_rank + offset });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_of_close_pairs_is_not_one_group() {
        // A~B and B~C are close, A and C are not: complete linkage keeps A or C out.
        let sim = |a: i64, b: i64| match (a.min(b), a.max(b)) {
            (1, 2) => 0.96,
            (2, 3) => 0.95,
            (1, 3) => 0.80,
            (4, 5) => 0.99,
            _ => 0.1,
        };
        let pairs = vec![(1, 2, 0.96), (2, 3, 0.95), (4, 5, 0.99), (1, 3, 0.80)];
        assert_eq!(complete_linkage(pairs, sim, 0.9, 10), vec![vec![1, 2], vec![4, 5]]);
    }

    #[test]
    fn groups_stay_within_their_size_bound() {
        let pairs: Vec<(i64, i64, f32)> = (1..=6).flat_map(|a| (a + 1..=6).map(move |b| (a, b, 0.99))).collect();
        let groups = complete_linkage(pairs, |_, _| 0.99, 0.9, 4);
        assert!(groups.iter().all(|g| g.len() <= 4), "{groups:?}");
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 6);
    }

    #[test]
    fn exact_duplicates_are_confirmed_by_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let (a, b, c) = (write("a.jpg", b"same"), write("b.jpg", b"same"), write("c.jpg", b"other"));
        let groups =
            confirm_exact(vec![vec![(1, a.clone()), (2, b.clone()), (3, c)], vec![(4, dir.path().join("gone.jpg"))]]);
        assert_eq!(groups, vec![vec![(1, a), (2, b)]]);
    }

    fn unit(angle: f32) -> Vec<f32> {
        vec![angle.cos(), angle.sin()]
    }

    #[test]
    fn similar_results_fold_into_the_first_close_tile_and_shown_tiles_stay() {
        // Angles in radians: cos(0.1) = 0.995, cos(0.3) = 0.955, cos(0.6) = 0.825.
        let angles: HashMap<i64, f32> = [(1, 0.0), (2, 0.1), (3, 1.5), (4, 0.2), (5, 0.3), (6, 1.55)].into();
        let vector = |id: i64| angles.get(&id).map(|a| unit(*a));
        let ranked = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6), (5, 0.5), (6, 0.4), (7, 0.3)];
        let mut tiles = Vec::new();
        fold_similar(&mut tiles, 0, &ranked[..4], 0, vector, 0.95);
        let shape = |tiles: &[Tile]| -> Vec<(i64, Vec<i64>, usize)> {
            tiles.iter().map(|t| (t.id, t.similar.iter().map(|s| s.0).collect(), t.rank)).collect()
        };
        assert_eq!(shape(&tiles), vec![(1, vec![2, 4], 0), (3, vec![], 2)]);
        // Later results: 5 is 0.3 from 1 (0.955) but 1 was shown, so it stands alone; 6 joins 3;
        // 7 has no vector.
        fold_similar(&mut tiles, 1, &ranked[4..], 4, vector, 0.95);
        assert_eq!(shape(&tiles), vec![(1, vec![2, 4], 0), (3, vec![6], 2), (5, vec![], 4), (7, vec![], 6)]);
    }

    #[test]
    fn a_chain_does_not_grow_a_tile_and_tiles_are_bounded() {
        // 0.2 apart each: 1~2 and 2~3 are close (0.98), 1 and 3 are not (cos 0.4 = 0.92).
        let vector = |id: i64| Some(unit(id as f32 * 0.2));
        let mut tiles = Vec::new();
        fold_similar(&mut tiles, 0, &[(1, 0.9), (2, 0.8), (3, 0.7)], 0, vector, 0.95);
        assert_eq!(tiles.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1, 3]);
        let same = |_: i64| Some(unit(0.0));
        let ranked: Vec<(i64, f32)> = (0..120).map(|i| (i, 1.0)).collect();
        let mut tiles = Vec::new();
        fold_similar(&mut tiles, 0, &ranked, 0, same, 0.95);
        assert_eq!(tiles.iter().map(|t| t.similar.len() + 1).collect::<Vec<_>>(), vec![MAX_FOLDED, MAX_FOLDED, 20]);
    }
}
