//! Billing periods: calendar months in UTC, written `YYYY-MM`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar month in UTC. Ordered chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: u32,
}

impl Period {
    /// `None` unless `month` is 1..=12 and the year is a four-digit one.
    pub fn new(year: i32, month: u32) -> Option<Self> {
        ((1..=12).contains(&month) && (1..=9999).contains(&year)).then_some(Self { year, month })
    }

    /// The period that contains `at`.
    pub fn containing(at: DateTime<Utc>) -> Self {
        Self {
            year: at.year(),
            month: at.month(),
        }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The first instant of the period.
    pub fn start(self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0)
            .single()
            .expect("the first of a valid month at midnight UTC exists")
    }

    /// The first instant of the next period: when this period's monthly credits expire.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    pub fn days(self) -> u32 {
        let first = NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid period");
        let next = self.next();
        let next_first = NaiveDate::from_ymd_opt(next.year, next.month, 1).expect("valid period");
        // A month has 28 to 31 days: the cast cannot truncate.
        (next_first - first).num_days() as u32
    }

    /// Days from `at` to the end of the period, counting the day of `at` itself;
    /// 0 when `at` is outside the period.
    pub fn days_left(self, at: DateTime<Utc>) -> u32 {
        if Self::containing(at) == self {
            self.days() - at.day() + 1
        } else {
            0
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a period is written YYYY-MM, got {0:?}")]
pub struct InvalidPeriod(String);

impl FromStr for Period {
    type Err = InvalidPeriod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPeriod(s.to_owned());
        let (year, month) = s.split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(invalid());
        }
        let year = year.parse().map_err(|_| invalid())?;
        let month = month.parse().map_err(|_| invalid())?;
        Self::new(year, month).ok_or_else(invalid)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn formats_and_parses_round_trip() {
        let p = Period::new(2026, 3).unwrap();
        assert_eq!(p.to_string(), "2026-03");
        assert_eq!("2026-03".parse::<Period>().unwrap(), p);
        for bad in [
            "2026-13", "2026-00", "2026-3", "26-03", "2026/03", "", "abcd-ef",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn december_rolls_into_january() {
        let dec = Period::new(2026, 12).unwrap();
        assert_eq!(dec.next(), Period::new(2027, 1).unwrap());
        assert_eq!(
            dec.end(),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn counts_days_including_leap_years() {
        assert_eq!(Period::new(2026, 11).unwrap().days(), 30);
        assert_eq!(Period::new(2026, 2).unwrap().days(), 28);
        assert_eq!(Period::new(2028, 2).unwrap().days(), 29);
        assert_eq!(Period::new(2026, 1).unwrap().days(), 31);
    }

    #[test]
    fn days_left_counts_the_day_itself() {
        let nov = Period::new(2026, 11).unwrap();
        assert_eq!(nov.days_left(at(2026, 11, 1)), 30);
        assert_eq!(nov.days_left(at(2026, 11, 28)), 3);
        assert_eq!(nov.days_left(at(2026, 11, 30)), 1);
        assert_eq!(nov.days_left(at(2026, 12, 1)), 0);
    }
}
