//! Changing a gathered tree: removing entries, and laying one tree over another the way a
//! remaster adds folders to an old image (folders merge, anything else is replaced).
//!
//! Removal detaches a node from its parent; [`FileTree::compact`] then drops every node no
//! longer reachable from the root, so counts and sizes are true again. The public operations
//! compact before they return.

use super::{FileTree, Kind, NodeIndex, ROOT};
use crate::error::{Error, Result};

impl FileTree {
    /// Removes the entry at `path` (with everything below it, for a folder).
    pub fn remove_path(&mut self, path: &str) -> Result<()> {
        let node = self
            .lookup(path)
            .ok_or_else(|| Error::not_found(format!("{path} is not in the image")))?;
        if node == ROOT {
            return Err(Error::invalid_input("the root folder cannot be removed"));
        }
        self.detach(node);
        self.compact();
        Ok(())
    }

    /// Lays `top` over this tree: a folder of `top` merges with the folder of the same path
    /// (taking `top`'s metadata), any other entry replaces what has its path, a whole folder
    /// included. The root keeps this tree's metadata.
    pub fn overlay(&mut self, top: &FileTree) -> Result<()> {
        let mut stack: Vec<(NodeIndex, NodeIndex)> = vec![(ROOT, ROOT)];
        while let Some((from, into)) = stack.pop() {
            for &child in top.children(from) {
                let n = top.node(child);
                let existing = self.child(into, &n.name);
                match &n.kind {
                    Kind::Dir(_) => {
                        let at = match existing {
                            Some(e) if matches!(self.node(e).kind, Kind::Dir(_)) => {
                                self.set_meta(e, n.meta);
                                e
                            }
                            Some(e) => {
                                self.detach(e);
                                self.add(into, &n.name, Kind::Dir(Vec::new()), n.meta)?
                            }
                            None => self.add(into, &n.name, Kind::Dir(Vec::new()), n.meta)?,
                        };
                        stack.push((child, at));
                    }
                    kind => {
                        if let Some(e) = existing {
                            self.detach(e);
                        }
                        self.add(into, &n.name, kind.clone(), n.meta)?;
                    }
                }
            }
        }
        self.compact();
        Ok(())
    }

    /// Takes `node` out of its parent's children; it and its descendants become unreachable.
    fn detach(&mut self, node: NodeIndex) {
        let parent = self.nodes[node].parent;
        if let Kind::Dir(children) = &mut self.nodes[parent].kind {
            children.retain(|&c| c != node);
        }
    }

    /// Drops unreachable nodes and renumbers the rest in depth-first order.
    pub(crate) fn compact(&mut self) {
        let order = self.depth_first();
        if order.len() == self.nodes.len() {
            return;
        }
        let mut new_index = vec![usize::MAX; self.nodes.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        let mut old_nodes: Vec<Option<super::Node>> = std::mem::take(&mut self.nodes)
            .into_iter()
            .map(Some)
            .collect();
        self.nodes = order
            .iter()
            .filter_map(|&old| old_nodes[old].take())
            .map(|mut n| {
                n.parent = new_index[n.parent];
                if let Kind::Dir(children) = &mut n.kind {
                    for c in children.iter_mut() {
                        *c = new_index[*c];
                    }
                }
                n
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tree::{Meta, Source};
    use crate::time::Timestamp;

    fn meta(mode: u32) -> Meta {
        Meta::synthetic(mode, Timestamp::from_secs(1_000_000))
    }

    fn file(bytes: &[u8]) -> Kind {
        Kind::File {
            source: Source::Bytes(bytes.to_vec().into()),
            size: bytes.len() as u64,
        }
    }

    fn paths(t: &FileTree) -> Vec<String> {
        t.depth_first().into_iter().map(|i| t.path(i)).collect()
    }

    #[test]
    fn overlay_merges_folders_and_replaces_the_rest() {
        let mut base = FileTree::new(meta(0o755));
        let a = base
            .add(ROOT, "a", Kind::Dir(Vec::new()), meta(0o700))
            .unwrap();
        base.add(a, "keep.txt", file(b"old"), meta(0o644)).unwrap();
        base.add(a, "swap.txt", file(b"old"), meta(0o644)).unwrap();
        let d = base
            .add(ROOT, "dir-to-file", Kind::Dir(Vec::new()), meta(0o755))
            .unwrap();
        base.add(d, "gone.txt", file(b"x"), meta(0o644)).unwrap();

        let mut top = FileTree::new(meta(0o700));
        let ta = top
            .add(ROOT, "a", Kind::Dir(Vec::new()), meta(0o750))
            .unwrap();
        top.add(ta, "swap.txt", file(b"new!"), meta(0o600)).unwrap();
        top.add(ta, "added.txt", file(b"n"), meta(0o644)).unwrap();
        top.add(ROOT, "dir-to-file", file(b"f"), meta(0o644))
            .unwrap();

        base.overlay(&top).unwrap();
        assert_eq!(
            paths(&base),
            [
                "/",
                "/a",
                "/a/added.txt",
                "/a/keep.txt",
                "/a/swap.txt",
                "/dir-to-file"
            ]
        );
        assert_eq!(base.len(), 6, "replaced nodes are dropped");
        assert_eq!(
            base.node(ROOT).meta.mode,
            0o755,
            "the root keeps its metadata"
        );
        let a = base.lookup("/a").unwrap();
        assert_eq!(base.node(a).meta.mode, 0o750);
        let swap = base.lookup("/a/swap.txt").unwrap();
        assert_eq!(base.node(swap).meta.mode, 0o600);
        assert_eq!(base.data_size(), 4 + 1 + 3 + 1);
        for i in 1..base.len() {
            let p = base.node(i).parent;
            assert!(base.children(p).contains(&i), "parent links renumbered");
        }
    }

    #[test]
    fn remove_path_drops_a_subtree() {
        let mut t = FileTree::new(meta(0o755));
        let a = t
            .add(ROOT, "a", Kind::Dir(Vec::new()), meta(0o755))
            .unwrap();
        t.add(a, "x", file(b"12"), meta(0o644)).unwrap();
        t.add(ROOT, "b", file(b"3"), meta(0o644)).unwrap();
        t.remove_path("/a").unwrap();
        assert_eq!(paths(&t), ["/", "/b"]);
        assert_eq!(t.data_size(), 1);
        assert!(t.remove_path("/a").is_err());
        assert!(t.remove_path("/").is_err());
    }
}
