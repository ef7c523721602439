//! Phone numbers as CRM users type them: mostly in the national format of the record's
//! country (`(336) 222-7000`, `020 7946 0018`), sometimes with the country code.
//!
//! Real orgs hold national numbers far more often than E.164, so a connector must read the
//! record's country (or the connection's default region) to normalise them. Every number
//! made here is valid for its country's numbering plan; the simulators' tests check that.

/// How a seeded number is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneStyle {
    /// The national format, without the country code: `(415) 555-2671`.
    National,
    /// The international format, with the country code: `+1 415-555-2671`.
    International,
}

/// A phone number of `country` built from three random draws, or `None` for a country the
/// simulators do not seed.
///
/// `country` is an ISO 3166 alpha-2 code or the English name the seeds use. Taking the
/// digits as arguments lets each seed keep drawing exactly what it drew before, so the rest
/// of its org does not change.
pub fn phone_number(country: &str, style: PhoneStyle, draws: [u32; 3]) -> Option<String> {
    let [a, b, c] = draws;
    let (national, international) = match country {
        "US" | "United States" | "USA" => {
            let area = [212, 312, 415, 512, 617, 206, 336, 650, 303, 404][(a % 10) as usize];
            let exchange = 201 + b % 790;
            let line = c % 10_000;
            (
                format!("({area}) {exchange}-{line:04}"),
                format!("+1 {area}-{exchange}-{line:04}"),
            )
        }
        "CA" | "Canada" => {
            let area = [416, 647, 604, 514, 613][(a % 5) as usize];
            let exchange = 201 + b % 790;
            let line = c % 10_000;
            (
                format!("({area}) {exchange}-{line:04}"),
                format!("+1 {area}-{exchange}-{line:04}"),
            )
        }
        "GB" | "United Kingdom" => {
            let line = c % 1_000;
            (
                format!("020 7946 0{line:03}"),
                format!("+44 20 7946 0{line:03}"),
            )
        }
        "DE" | "Germany" => {
            let number = 2_000_000 + (u64::from(b) * 10_000 + u64::from(c)) % 8_000_000;
            (format!("030 {number}"), format!("+49 30 {number}"))
        }
        "FR" | "France" => {
            let (x, y, z) = (10 + a % 90, b % 100, c % 100);
            (
                format!("01 42 {x:02} {y:02} {z:02}"),
                format!("+33 1 42 {x:02} {y:02} {z:02}"),
            )
        }
        "BR" | "Brazil" => {
            let (x, y) = (b % 1_000, c % 10_000);
            (
                format!("(11) 3{x:03}-{y:04}"),
                format!("+55 11 3{x:03}-{y:04}"),
            )
        }
        "JP" | "Japan" => {
            let (x, y) = (b % 1_000, c % 10_000);
            (
                format!("03-5{x:03}-{y:04}"),
                format!("+81 3-5{x:03}-{y:04}"),
            )
        }
        "AU" | "Australia" => {
            let (x, y) = (b % 1_000, c % 10_000);
            (
                format!("(02) 9{x:03} {y:04}"),
                format!("+61 2 9{x:03} {y:04}"),
            )
        }
        "IN" | "India" => {
            let (x, y) = (b % 1_000, c % 10_000);
            (
                format!("080 2{x:03} {y:04}"),
                format!("+91 80 2{x:03} {y:04}"),
            )
        }
        "SE" | "Sweden" => {
            let (x, y, z) = (b % 100, c / 100 % 1_000, c % 100);
            (
                format!("08-5{x:02} {y:03} {z:02}"),
                format!("+46 8-5{x:02} {y:03} {z:02}"),
            )
        }
        "IE" | "Ireland" => {
            let (x, y) = (b % 100, c % 10_000);
            (
                format!("01 6{x:02} {y:04}"),
                format!("+353 1 6{x:02} {y:04}"),
            )
        }
        "ES" | "Spain" => {
            let (x, y, z) = (b % 100, c / 100 % 100, c % 100);
            (
                format!("91 5{x:02} {y:02} {z:02}"),
                format!("+34 91 5{x:02} {y:02} {z:02}"),
            )
        }
        _ => return None,
    };
    Some(match style {
        PhoneStyle::National => national,
        PhoneStyle::International => international,
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn every_seeded_number_is_valid_for_its_country() {
        let countries = [
            ("US", "United States"),
            ("CA", "Canada"),
            ("GB", "United Kingdom"),
            ("DE", "Germany"),
            ("FR", "France"),
            ("BR", "Brazil"),
            ("JP", "Japan"),
            ("AU", "Australia"),
            ("IN", "India"),
            ("SE", "Sweden"),
            ("IE", "Ireland"),
            ("ES", "Spain"),
        ];
        for (code, name) in countries {
            let region = phonenumber::country::Id::from_str(code).expect("region");
            for n in 0..400_u32 {
                let draws = [201 + n * 7 % 789, 200 + n * 13 % 799, n * 7_919 % 10_000];
                let national =
                    phone_number(name, PhoneStyle::National, draws).expect("a seeded country");
                assert_eq!(
                    phone_number(code, PhoneStyle::National, draws).as_deref(),
                    Some(national.as_str())
                );
                assert!(!national.starts_with('+'), "{national}");
                let parsed = phonenumber::parse(Some(region), &national).expect("parses");
                assert!(phonenumber::is_valid(&parsed), "{code} {national}");
                let international =
                    phone_number(name, PhoneStyle::International, draws).expect("a seeded country");
                let parsed = phonenumber::parse(None, &international).expect("parses");
                assert!(phonenumber::is_valid(&parsed), "{code} {international}");
                assert_eq!(
                    parsed.format().mode(phonenumber::Mode::E164).to_string(),
                    phonenumber::parse(Some(region), &national)
                        .expect("parses")
                        .format()
                        .mode(phonenumber::Mode::E164)
                        .to_string(),
                    "both styles write one number"
                );
            }
        }
        assert_eq!(
            phone_number("Narnia", PhoneStyle::National, [1, 2, 3]),
            None
        );
    }
}
