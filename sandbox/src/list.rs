//! Pagination in both Ping++ styles and the list object `{object, url, has_more, data}`:
//! cursor (`limit` 1–100 default 10, `starting_after`, `ending_before`, `created[...]`) and page
//! (`page` ≥ 1, `per_page` 1–100 default 20).

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::store::Record;

/// Query parameters every cursor-paginated list accepts.
pub const CURSOR_PARAMS: &[&str] = &[
    "limit",
    "starting_after",
    "ending_before",
    "created",
    "created[gt]",
    "created[gte]",
    "created[lt]",
    "created[lte]",
];

/// Query parameters every page-paginated list accepts.
pub const PAGE_PARAMS: &[&str] = &["page", "per_page"];

pub fn list_object(url: &str, has_more: bool, data: Vec<Value>) -> Value {
    json!({ "object": "list", "url": url, "has_more": has_more, "data": data })
}

/// `created` / `created[gt|gte|lt|lte]` bounds.
#[derive(Debug, Default, Clone, Copy)]
pub struct Created {
    pub eq: Option<i64>,
    pub gt: Option<i64>,
    pub gte: Option<i64>,
    pub lt: Option<i64>,
    pub lte: Option<i64>,
}

impl Created {
    pub fn from_query(q: &Query) -> ApiResult<Self> {
        Ok(Self {
            eq: q.int("created")?,
            gt: q.int("created[gt]")?,
            gte: q.int("created[gte]")?,
            lt: q.int("created[lt]")?,
            lte: q.int("created[lte]")?,
        })
    }

    pub fn is_empty(&self) -> bool {
        [self.eq, self.gt, self.gte, self.lt, self.lte]
            .iter()
            .all(Option::is_none)
    }

    pub fn matches(&self, created: i64) -> bool {
        self.eq.is_none_or(|v| created == v)
            && self.gt.is_none_or(|v| created > v)
            && self.gte.is_none_or(|v| created >= v)
            && self.lt.is_none_or(|v| created < v)
            && self.lte.is_none_or(|v| created <= v)
    }
}

/// Cursor parameters.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub limit: usize,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
    pub created: Created,
}

impl Cursor {
    pub fn from_query(q: &Query) -> ApiResult<Self> {
        let limit = match q.int("limit")? {
            None => 10,
            Some(n @ 1..=100) => n as usize,
            Some(n) => {
                return Err(ApiError::param(
                    "limit",
                    format!("参数 limit 的取值范围是 1 到 100，收到: {n}"),
                ));
            }
        };
        let starting_after = q
            .get("starting_after")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let ending_before = q
            .get("ending_before")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if starting_after.is_some() && ending_before.is_some() {
            return Err(ApiError::param(
                "ending_before",
                "starting_after 和 ending_before 不能同时使用",
            ));
        }
        Ok(Self {
            limit,
            starting_after,
            ending_before,
            created: Created::from_query(q)?,
        })
    }

    /// One page of `newest_first` (all objects of the list, newest first) keeping those that
    /// `keep` accepts. The cursor object is located in the unfiltered order, so a cursor that a
    /// filter would exclude still works. Returns the page and `has_more`.
    pub fn page<'a, T: Record>(
        &self,
        newest_first: Vec<&'a T>,
        keep: impl Fn(&T) -> bool,
    ) -> ApiResult<(Vec<&'a T>, bool)> {
        let position = |param: &str, id: &str| {
            newest_first
                .iter()
                .position(|item| item.id() == id)
                .ok_or_else(|| {
                    ApiError::param(param, format!("{param} 指定的对象不存在于该列表中: {id}"))
                })
        };
        if let Some(id) = &self.starting_after {
            let after = position("starting_after", id)? + 1;
            let rest: Vec<&T> = newest_first[after..]
                .iter()
                .copied()
                .filter(|t| keep(t))
                .collect();
            let has_more = rest.len() > self.limit;
            return Ok((rest.into_iter().take(self.limit).collect(), has_more));
        }
        if let Some(id) = &self.ending_before {
            let before = position("ending_before", id)?;
            let rest: Vec<&T> = newest_first[..before]
                .iter()
                .copied()
                .filter(|t| keep(t))
                .collect();
            let has_more = rest.len() > self.limit;
            let skip = rest.len().saturating_sub(self.limit);
            return Ok((rest.into_iter().skip(skip).collect(), has_more));
        }
        let all: Vec<&T> = newest_first.into_iter().filter(|t| keep(t)).collect();
        let has_more = all.len() > self.limit;
        Ok((all.into_iter().take(self.limit).collect(), has_more))
    }
}

/// Page parameters.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: usize,
    pub per_page: usize,
}

impl Page {
    pub fn from_query(q: &Query) -> ApiResult<Self> {
        let page = match q.int("page")? {
            None => 1,
            Some(n @ 1..=1_000_000_000) => n as usize,
            Some(n) => {
                return Err(ApiError::param(
                    "page",
                    format!("参数 page 的取值范围是 1 到 1000000000，收到: {n}"),
                ));
            }
        };
        let per_page = match q.int("per_page")? {
            None => 20,
            Some(n @ 1..=100) => n as usize,
            Some(n) => {
                return Err(ApiError::param(
                    "per_page",
                    format!("参数 per_page 的取值范围是 1 到 100，收到: {n}"),
                ));
            }
        };
        Ok(Self { page, per_page })
    }

    /// One page of `newest_first`; returns the page and `has_more`.
    pub fn slice<'a, T>(&self, newest_first: Vec<&'a T>) -> (Vec<&'a T>, bool) {
        let start = (self.page - 1).saturating_mul(self.per_page);
        let has_more = newest_first.len() > start.saturating_add(self.per_page);
        (
            newest_first
                .into_iter()
                .skip(start)
                .take(self.per_page)
                .collect(),
            has_more,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(String);
    impl Record for Item {
        fn id(&self) -> &str {
            &self.0
        }
    }

    fn items(n: usize) -> Vec<Item> {
        (0..n).rev().map(|i| Item(format!("i{i}"))).collect()
    }

    fn ids(page: &[&Item]) -> Vec<String> {
        page.iter().map(|i| i.0.clone()).collect()
    }

    fn cursor(query: &str) -> Cursor {
        Cursor::from_query(&Query::parse(Some(query))).unwrap()
    }

    #[test]
    fn cursor_pages_forward_and_back() {
        let all = items(5); // newest first: i4 i3 i2 i1 i0
        let refs = || all.iter().collect::<Vec<_>>();
        let (p1, more) = cursor("limit=2").page(refs(), |_| true).unwrap();
        assert_eq!((ids(&p1), more), (vec!["i4".into(), "i3".into()], true));
        let (p3, more) = cursor("limit=2&starting_after=i1")
            .page(refs(), |_| true)
            .unwrap();
        assert_eq!((ids(&p3), more), (vec!["i0".into()], false));
        let (back, more) = cursor("limit=2&ending_before=i1")
            .page(refs(), |_| true)
            .unwrap();
        assert_eq!((ids(&back), more), (vec!["i3".into(), "i2".into()], true));
        assert!(
            cursor("starting_after=nope")
                .page(refs(), |_| true)
                .is_err()
        );
    }

    #[test]
    fn limit_bounds() {
        for bad in ["limit=0", "limit=101", "limit=x"] {
            assert_eq!(
                Cursor::from_query(&Query::parse(Some(bad)))
                    .unwrap_err()
                    .param
                    .as_deref(),
                Some("limit")
            );
        }
    }

    #[test]
    fn pages() {
        let all = items(5);
        let page = Page::from_query(&Query::parse(Some("page=3&per_page=2"))).unwrap();
        let (p, more) = page.slice(all.iter().collect());
        assert_eq!((ids(&p), more), (vec!["i0".into()], false));
        assert!(Page::from_query(&Query::parse(Some("per_page=101"))).is_err());
    }
}
