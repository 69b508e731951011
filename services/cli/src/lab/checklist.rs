//! What `keyhold lab` expected and observed: each check printed as it happens, and
//! the whole list as a table at the end.

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

pub struct Check {
    pub step: u8,
    pub expectation: String,
    pub observed: String,
    pub passed: bool,
}

#[derive(Default)]
pub struct Checklist {
    checks: Vec<Check>,
}

impl Checklist {
    /// Prints a step's title.
    pub fn step(&self, step: u8, title: &str) {
        println!("\nStep {step}: {title}");
    }

    /// Records (and prints) whether `expectation` held, and what was seen.
    pub fn check(
        &mut self,
        step: u8,
        expectation: &str,
        observed: impl Into<String>,
        passed: bool,
    ) {
        let observed = observed.into();
        let mark = if passed { "ok  " } else { "FAIL" };
        println!("  [{mark}] {expectation}: {observed}");
        self.checks.push(Check {
            step,
            expectation: expectation.to_owned(),
            observed,
            passed,
        });
    }

    /// A check that `observed` equals `expected`.
    pub fn equal(&mut self, step: u8, expectation: &str, observed: &str, expected: &str) -> bool {
        let passed = observed == expected;
        let text = if passed {
            observed.to_owned()
        } else {
            format!("{observed} (expected {expected})")
        };
        self.check(step, expectation, text, passed);
        passed
    }

    /// The steps with a failed check.
    pub fn failed_steps(&self) -> Vec<u8> {
        let mut steps: Vec<u8> = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.step)
            .collect();
        steps.dedup();
        steps
    }

    /// The final checklist.
    pub fn table(&self) -> Table {
        let mut table = Table::new();
        table
            .load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            // The width when standard output is not a terminal (a file, a CI log).
            .set_width(120)
            .set_header(["Step", "Expectation", "Observed", "Result"]);
        for check in &self.checks {
            table.add_row([
                check.step.to_string(),
                check.expectation.clone(),
                check.observed.clone(),
                if check.passed { "ok" } else { "FAILED" }.to_owned(),
            ]);
        }
        table
    }
}
