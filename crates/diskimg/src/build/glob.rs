//! Shell-style patterns for `--exclude`: `*` (any run within a name), `?` (one character),
//! `[abc]`/`[a-z]`/`[!a]` (a class) and `**` (any run across `/`).

/// A compiled pattern. A pattern without `/` matches any single name; one with `/` matches the
/// path relative to the source root.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: Vec<char>,
    anchored: bool,
}

impl Pattern {
    /// Parses `pattern`; a leading `/` anchors it at the root.
    pub fn new(pattern: &str) -> Self {
        let trimmed = pattern.trim_start_matches('/');
        Pattern {
            anchored: pattern.contains('/'),
            text: trimmed.trim_end_matches('/').chars().collect(),
        }
    }

    /// Whether the entry at `rel_path` (relative, `/`-separated) named `name` matches.
    pub fn matches(&self, rel_path: &str, name: &str) -> bool {
        let subject: Vec<char> = if self.anchored {
            rel_path.chars().collect()
        } else {
            name.chars().collect()
        };
        matches(&self.text, &subject)
    }
}

fn matches(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') if p.get(1) == Some(&'*') => {
            let rest = &p[2..];
            (0..=s.len()).any(|i| matches(rest, &s[i..]))
        }
        Some('*') => {
            let rest = &p[1..];
            (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != '/')
                .any(|i| matches(rest, &s[i..]))
        }
        Some('?') => !s.is_empty() && s[0] != '/' && matches(&p[1..], &s[1..]),
        Some('[') => {
            let Some(end) = p.iter().skip(1).position(|&c| c == ']').map(|i| i + 1) else {
                return !s.is_empty() && s[0] == '[' && matches(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let class = &p[1..end];
            let (negate, class) = match class.first() {
                Some('!' | '^') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && matches(&p[end + 1..], &s[1..])
        }
        Some(&c) => !s.is_empty() && s[0] == c && matches(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        let p = Pattern::new("*.tmp");
        assert!(p.matches("a/b/x.tmp", "x.tmp"));
        assert!(!p.matches("a/x.tmpl", "x.tmpl"));
        let d = Pattern::new("node_modules");
        assert!(d.matches("web/node_modules", "node_modules"));
        let a = Pattern::new("/build/*.o");
        assert!(a.matches("build/x.o", "x.o"));
        assert!(!a.matches("src/build/x.o", "x.o"));
        assert!(!a.matches("build/sub/x.o", "x.o"));
        let deep = Pattern::new("cache/**");
        assert!(deep.matches("cache/a/b/c", "c"));
        assert!(Pattern::new("file[0-9].txt").matches("file7.txt", "file7.txt"));
        assert!(!Pattern::new("file[!0-9].txt").matches("file7.txt", "file7.txt"));
        assert!(Pattern::new("?.c").matches("a.c", "a.c"));
    }
}
