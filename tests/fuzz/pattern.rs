//! Strings that match a regular expression, for the subset the specs use: literals, escapes
//! (`\.`, `\s`, `\d`, `\w`), classes with ranges and negation, groups, alternation,
//! `? * + {n} {m,n}` and anchors.

use crate::Rng;

/// A parsed pattern.
#[derive(Debug, Clone)]
pub enum Re {
    Lit(char),
    Class {
        negated: bool,
        items: Vec<ClassItem>,
    },
    Alt(Vec<Vec<Re>>),
    Repeat(Box<Re>, usize, Option<usize>),
}

#[derive(Debug, Clone)]
pub enum ClassItem {
    Range(char, char),
    Space,
    Digit,
    Word,
}

impl ClassItem {
    fn contains(&self, c: char) -> bool {
        match self {
            ClassItem::Range(a, b) => (*a..=*b).contains(&c),
            ClassItem::Space => c.is_whitespace(),
            ClassItem::Digit => c.is_ascii_digit(),
            ClassItem::Word => c.is_ascii_alphanumeric() || c == '_',
        }
    }
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Parser<'_> {
    fn alternation(&mut self) -> Re {
        let mut branches = vec![self.sequence()];
        while self.chars.peek() == Some(&'|') {
            self.chars.next();
            branches.push(self.sequence());
        }
        Re::Alt(branches)
    }

    fn sequence(&mut self) -> Vec<Re> {
        let mut seq = Vec::new();
        while let Some(&c) = self.chars.peek() {
            let atom = match c {
                '|' | ')' => break,
                '^' | '$' => {
                    self.chars.next();
                    continue;
                }
                '(' => {
                    self.chars.next();
                    let inner = self.alternation();
                    assert_eq!(self.chars.next(), Some(')'), "unclosed group");
                    inner
                }
                '[' => {
                    self.chars.next();
                    self.class()
                }
                '\\' => {
                    self.chars.next();
                    escape(self.chars.next().expect("escape"))
                }
                '.' => {
                    self.chars.next();
                    Re::Class {
                        negated: true,
                        items: vec![ClassItem::Range('\n', '\n')],
                    }
                }
                _ => {
                    self.chars.next();
                    Re::Lit(c)
                }
            };
            seq.push(self.quantified(atom));
        }
        seq
    }

    fn quantified(&mut self, atom: Re) -> Re {
        let (min, max) = match self.chars.peek() {
            Some('?') => (0, Some(1)),
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('{') => {
                self.chars.next();
                let mut spec = String::new();
                for c in self.chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    spec.push(c);
                }
                let (lo, hi) = match spec.split_once(',') {
                    Some((lo, "")) => (lo.parse().unwrap(), None),
                    Some((lo, hi)) => (lo.parse().unwrap(), Some(hi.parse().unwrap())),
                    None => (spec.parse().unwrap(), Some(spec.parse().unwrap())),
                };
                return Re::Repeat(Box::new(atom), lo, hi);
            }
            _ => return atom,
        };
        self.chars.next();
        Re::Repeat(Box::new(atom), min, max)
    }

    fn class(&mut self) -> Re {
        let negated = self.chars.peek() == Some(&'^');
        if negated {
            self.chars.next();
        }
        let mut items = Vec::new();
        while let Some(c) = self.chars.next() {
            let item = match c {
                ']' => break,
                '\\' => match self.chars.next().expect("class escape") {
                    's' => ClassItem::Space,
                    'd' => ClassItem::Digit,
                    'w' => ClassItem::Word,
                    other => ClassItem::Range(other, other),
                },
                _ if self.chars.peek() == Some(&'-') => {
                    self.chars.next();
                    match self.chars.next().expect("range end") {
                        ']' => {
                            items.push(ClassItem::Range(c, c));
                            items.push(ClassItem::Range('-', '-'));
                            break;
                        }
                        end => ClassItem::Range(c, end),
                    }
                }
                _ => ClassItem::Range(c, c),
            };
            items.push(item);
        }
        Re::Class { negated, items }
    }
}

fn escape(c: char) -> Re {
    let class = |item| Re::Class {
        negated: false,
        items: vec![item],
    };
    match c {
        's' => class(ClassItem::Space),
        'd' => class(ClassItem::Digit),
        'w' => class(ClassItem::Word),
        other => Re::Lit(other),
    }
}

pub fn parse_pattern(pattern: &str) -> Re {
    let mut parser = Parser {
        chars: pattern.chars().peekable(),
    };
    let re = parser.alternation();
    assert!(parser.chars.next().is_none(), "pattern {pattern} parsed");
    re
}

/// Characters a negated class may yield: mostly ASCII, some CJK, emoji and RTL.
pub const WIDE: &[char] = &[
    'a', 'Z', '7', '-', '_', ' ', '.', ',', '支', '付', '测', '试', '💳', '🧧', 'م', 'ש', 'é',
];

pub fn gen_re(re: &Re, rng: &mut Rng, out: &mut String) {
    match re {
        Re::Lit(c) => out.push(*c),
        Re::Class {
            negated: false,
            items,
        } => {
            let item = rng.pick(items);
            let c = match item {
                ClassItem::Range(a, b) => {
                    char::from_u32(rng.range(*a as i64, *b as i64) as u32).unwrap_or(*a)
                }
                ClassItem::Space => ' ',
                ClassItem::Digit => char::from(b'0' + rng.range(0, 9) as u8),
                ClassItem::Word => *rng.pick(&['a', 'Q', '5', '_']),
            };
            out.push(c);
        }
        Re::Class {
            negated: true,
            items,
        } => {
            let allowed: Vec<char> = WIDE
                .iter()
                .copied()
                .filter(|c| !items.iter().any(|i| i.contains(*c)))
                .collect();
            out.push(*rng.pick(&allowed));
        }
        Re::Alt(branches) => {
            for atom in rng.pick(branches) {
                gen_re(atom, rng, out);
            }
        }
        Re::Repeat(atom, min, max) => {
            let hi = max.unwrap_or(min + 16);
            // Mostly short, sometimes anywhere up to the bound.
            let hi = if rng.chance(0.9) {
                hi.min(min + 16)
            } else {
                hi
            };
            for _ in 0..rng.range(*min as i64, hi as i64) {
                gen_re(atom, rng, out);
            }
        }
    }
}
