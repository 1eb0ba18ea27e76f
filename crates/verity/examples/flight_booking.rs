//! The flight booking example from PydanticAI's docs, with a human approval step: agents
//! working together to find, seat and buy a flight.
//!
//! - a search agent finds the cheapest flight; its `extract_flights` tool delegates to an
//!   extraction agent (the child's requests count in the parent's usage), and its output
//!   validator sends a flight with the wrong origin, destination or date back to the model;
//! - the application hands off to a seat agent, then to a booking agent, all on one usage
//!   under one request limit;
//! - the booking agent's `buy_tickets` tool needs a person's approval: the run stops with
//!   the purchase to approve, and resumes with the decision.
//!
//! Offline by default: scripted models play the LLMs and a scripted customer answers.
//! `VERITY_MODEL` runs the agents on a real model instead (`openai:gpt-4o`, …), and
//! `--interactive` asks you instead of the scripted customer.
//!
//! ```text
//! cargo run -p verity --example flight_booking
//! ```

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use verity::ModelRef;
use verity::deferred::{Deferrable, DeferredToolResults};
use verity::messages::{ModelMessage, last_tool_returns, last_user_prompt};
use verity::prelude::*;
use verity::usage::{RunUsage, SharedUsage};

/// Details of the most suitable flight.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct FlightDetails {
    flight_number: String,
    price: u32,
    /// Three-letter airport code
    origin: String,
    /// Three-letter airport code
    destination: String,
    /// The date, as YYYY-MM-DD
    date: String,
}

/// What the search agent answers.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema)]
enum FlightSearch {
    /// The most suitable flight.
    FlightDetails(FlightDetails),
    /// When no valid flight is found.
    NoFlightFound {},
}

/// The seat the customer asked for.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct Seat {
    #[schemars(range(min = 1, max = 30))]
    row: u8,
    /// A to F; A and F are window seats
    #[schemars(regex(pattern = "^[A-F]$"))]
    seat: String,
}

/// What the seat agent answers.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema)]
enum SeatChoice {
    /// The seat preference.
    SeatPreference(Seat),
    /// Unable to extract a seat selection.
    Failed {},
}

/// What the search agent's tools and validator see.
struct SearchDeps {
    web_page_text: String,
    req_origin: String,
    req_destination: String,
    req_date: String,
    extraction_agent: Agent<(), Vec<FlightDetails>>,
}

/// The booking system: what was bought.
#[derive(Default)]
struct Bookings {
    purchased: Mutex<Vec<(String, String)>>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Purchase {
    /// The flight to buy.
    flight_number: String,
    /// The seat, like 1A.
    seat: String,
}

fn extraction_agent(model: ModelRef) -> Agent<(), Vec<FlightDetails>> {
    Agent::builder(model)
        .system_prompt("Extract all the flight details from the given text.")
        .output::<Vec<FlightDetails>>()
        .build()
}

fn search_agent(model: ModelRef) -> Agent<SearchDeps, FlightSearch> {
    Agent::builder(model)
        .deps_type::<SearchDeps>()
        .output::<FlightSearch>()
        .retries(4)
        .output_retries(4)
        .system_prompt("Your job is to find the cheapest flight for the user on the given date.")
        .tool_fn(
            "extract_flights",
            "Get details of all flights.",
            |ctx: RunContext<SearchDeps>, _: NoArgs| async move {
                // the child run counts in this run's usage and stops at its limits
                let result = ctx
                    .deps()
                    .extraction_agent
                    .run(ctx.deps().web_page_text.clone())
                    .usage(ctx.shared_usage())
                    .await
                    .map_err(ToolError::from)?;
                Ok::<_, ToolError>(result.output)
            },
        )
        .output_validator(
            |ctx: RunContext<SearchDeps>, output: FlightSearch| async move {
                let FlightSearch::FlightDetails(flight) = &output else {
                    return Ok(output);
                };
                let deps = ctx.deps();
                let mut errors = Vec::new();
                if flight.origin != deps.req_origin {
                    errors.push(format!(
                        "Flight should have origin {}, not {}",
                        deps.req_origin, flight.origin
                    ));
                }
                if flight.destination != deps.req_destination {
                    errors.push(format!(
                        "Flight should have destination {}, not {}",
                        deps.req_destination, flight.destination
                    ));
                }
                if flight.date != deps.req_date {
                    errors.push(format!(
                        "Flight should be on {}, not {}",
                        deps.req_date, flight.date
                    ));
                }
                if errors.is_empty() {
                    Ok(output)
                } else {
                    Err(ModelRetry::new(errors.join("\n")))
                }
            },
        )
        .build()
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoArgs {}

fn seat_agent(model: ModelRef) -> Agent<(), SeatChoice> {
    Agent::builder(model)
        .system_prompt(
            "Extract the user's seat preference. Seats A and F are window seats. Row 1 is \
             the front row and has extra leg room. Rows 14, and 20 also have extra leg room.",
        )
        .output::<SeatChoice>()
        .build()
}

fn booking_agent(model: ModelRef) -> Agent<Arc<Bookings>, Deferrable<String>> {
    Agent::builder(model)
        .deps_type::<Arc<Bookings>>()
        .instructions(
            "Buy the flight the user asks for, then confirm the purchase in one sentence.",
        )
        .tool(
            Tool::new(
                "buy_tickets",
                "Buy a ticket for a flight and seat.",
                |ctx: RunContext<Arc<Bookings>>, p: Purchase| async move {
                    ctx.deps()
                        .purchased
                        .lock()
                        .map_err(|_| ToolError::failed("the booking system is down"))?
                        .push((p.flight_number.clone(), p.seat.clone()));
                    Ok::<_, ToolError>(format!("Purchased {} seat {}", p.flight_number, p.seat))
                },
            )
            // money is spent: a person approves every purchase
            .with_requires_approval(true),
        )
        .deferrable()
        .build()
}

/// In reality this would be downloaded from a booking site.
const FLIGHTS_WEB_PAGE: &str = "
1. Flight SFO-AK123
- Price: $350
- Origin: San Francisco International Airport (SFO)
- Destination: Ted Stevens Anchorage International Airport (ANC)
- Date: January 10, 2025

2. Flight SFO-AK456
- Price: $370
- Origin: San Francisco International Airport (SFO)
- Destination: Fairbanks International Airport (FAI)
- Date: January 10, 2025

3. Flight NYC-LA101
- Price: $250
- Origin: San Francisco International Airport (SFO)
- Destination: Ted Stevens Anchorage International Airport (ANC)
- Date: January 10, 2025

4. Flight BOS-SEA303
- Price: $120
- Origin: Boston Logan International Airport (BOS)
- Destination: Ted Stevens Anchorage International Airport (ANC)
- Date: January 12, 2025
";

/// The agents' models: one real model for all, or a scripted one each.
struct Models {
    extraction: ModelRef,
    search: ModelRef,
    seat: ModelRef,
    booking: ModelRef,
}

impl Models {
    fn from_env() -> verity::Result<Models> {
        match std::env::var("VERITY_MODEL") {
            Ok(name) if !name.is_empty() && name != "scripted" => {
                let model = infer_model(&name)?;
                Ok(Models {
                    extraction: model.clone(),
                    search: model.clone(),
                    seat: model.clone(),
                    booking: model,
                })
            }
            _ => Ok(Models::scripted()),
        }
    }

    /// Deterministic stand-ins for the LLMs.
    fn scripted() -> Models {
        let flight = |number: &str, price: u32, origin: &str, destination: &str, date: &str| {
            json!({"flight_number": number, "price": price, "origin": origin,
                   "destination": destination, "date": date})
        };
        let flights = json!([
            flight("SFO-AK123", 350, "SFO", "ANC", "2025-01-10"),
            flight("SFO-AK456", 370, "SFO", "FAI", "2025-01-10"),
            flight("NYC-LA101", 250, "SFO", "ANC", "2025-01-10"),
            flight("BOS-SEA303", 120, "BOS", "ANC", "2025-01-12"),
        ]);
        let extraction = FunctionModel::new(move |_, _| {
            ModelResponse::tool_call("final_result", json!({"response": flights.clone()}))
        });
        let found = OutputSpec::<FlightSearch>::structured()
            .tool_name_for_variant("FlightDetails")
            .unwrap_or_default();
        let search = FunctionModel::new(move |messages: &[ModelMessage], _| {
            let returns = last_tool_returns(messages);
            match returns.first().map(|r| r.tool_name.as_str()) {
                // first the flights, then the cheapest of them (which is wrong), then
                // the cheapest that fits once the validator has said why
                None => ModelResponse::tool_call("extract_flights", json!({})),
                Some("extract_flights") => ModelResponse::tool_call(
                    &found,
                    flight("BOS-SEA303", 120, "BOS", "ANC", "2025-01-12"),
                ),
                Some(_) => ModelResponse::tool_call(
                    &found,
                    flight("NYC-LA101", 250, "SFO", "ANC", "2025-01-10"),
                ),
            }
        });
        let seat = FunctionModel::new(|messages: &[ModelMessage], _| {
            let asked = last_user_prompt(messages)
                .unwrap_or_default()
                .to_lowercase();
            let spec = OutputSpec::<SeatChoice>::structured();
            if asked.contains("window") && asked.contains("leg room") {
                let name = spec
                    .tool_name_for_variant("SeatPreference")
                    .unwrap_or_default();
                ModelResponse::tool_call(&name, json!({"row": 1, "seat": "A"}))
            } else {
                let name = spec.tool_name_for_variant("Failed").unwrap_or_default();
                ModelResponse::tool_call(&name, json!({}))
            }
        });
        let booking = FunctionModel::new(|messages: &[ModelMessage], _| {
            match last_tool_returns(messages).first() {
                Some(ret) => ModelResponse::text(format!("Done: {}.", ret.model_response_str())),
                None => {
                    let asked = last_user_prompt(messages).unwrap_or_default();
                    let mut words = asked.split_whitespace().rev();
                    let seat = words.next().unwrap_or_default().to_owned();
                    let flight = words.nth(1).unwrap_or_default().to_owned();
                    ModelResponse::tool_call(
                        "buy_tickets",
                        json!({"flight_number": flight, "seat": seat}),
                    )
                }
            }
        });
        Models {
            extraction: extraction.into_model(),
            search: search.into_model(),
            seat: seat.into_model(),
            booking: booking.into_model(),
        }
    }
}

/// The person at the keyboard: asked for a seat and for approval of the purchase.
trait Customer {
    fn seat_wish(&mut self, attempt: usize) -> String;
    fn approves(&mut self, purchase: &str) -> bool;
}

/// Answers from a script.
struct ScriptedCustomer {
    seat_wishes: Vec<&'static str>,
    approve: bool,
}

impl Customer for ScriptedCustomer {
    fn seat_wish(&mut self, attempt: usize) -> String {
        self.seat_wishes
            .get(attempt)
            .copied()
            .unwrap_or("a window seat with leg room")
            .to_owned()
    }
    fn approves(&mut self, _purchase: &str) -> bool {
        self.approve
    }
}

/// Answers from the terminal.
struct TerminalCustomer;

impl TerminalCustomer {
    fn ask(question: &str) -> String {
        print!("{question} ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        line.trim().to_owned()
    }
}

impl Customer for TerminalCustomer {
    fn seat_wish(&mut self, _attempt: usize) -> String {
        Self::ask("What seat would you like?")
    }
    fn approves(&mut self, purchase: &str) -> bool {
        Self::ask(&format!("Approve {purchase}? (yes/no)")).eq_ignore_ascii_case("yes")
    }
}

/// How a booking ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    Booked { confirmation: String },
    Declined,
    NoFlight,
}

/// Find, seat and buy: every run on one usage, under one request limit.
async fn book(
    models: &Models,
    customer: &mut dyn Customer,
    bookings: &Arc<Bookings>,
    usage: &SharedUsage,
) -> verity::Result<Outcome> {
    let deps = SearchDeps {
        web_page_text: FLIGHTS_WEB_PAGE.to_owned(),
        req_origin: "SFO".into(),
        req_destination: "ANC".into(),
        req_date: "2025-01-10".into(),
        extraction_agent: extraction_agent(models.extraction.clone()),
    };
    let prompt = format!(
        "Find me a flight from {} to {} on {}",
        deps.req_origin, deps.req_destination, deps.req_date
    );
    let search = search_agent(models.search.clone())
        .run(prompt)
        .deps(deps)
        .usage(usage.clone())
        .await?;
    let FlightSearch::FlightDetails(flight) = search.output else {
        return Ok(Outcome::NoFlight);
    };
    println!("Flight found: {flight:?}");

    // hand-off: the seat agent, on the same usage
    let seats = seat_agent(models.seat.clone());
    let mut history = Vec::new();
    let mut attempt = 0;
    let seat = loop {
        let wish = customer.seat_wish(attempt);
        attempt += 1;
        let result = seats
            .run(wish)
            .message_history(history)
            .usage(usage.clone())
            .await?;
        match result.output {
            SeatChoice::SeatPreference(seat) => break seat,
            SeatChoice::Failed {} => {
                println!("Could not understand seat preference. Please try again.");
                history = result.all_messages().to_vec();
            }
        }
    };
    let seat = format!("{}{}", seat.row, seat.seat);

    // the purchase: the run stops until the customer approves it
    let booking = booking_agent(models.booking.clone());
    let first = booking
        .run(format!("Buy flight {} seat {seat}", flight.flight_number))
        .deps(Arc::clone(bookings))
        .usage(usage.clone())
        .await?;
    let requests = match first.output {
        Deferrable::Output(text) => return Ok(Outcome::Booked { confirmation: text }),
        Deferrable::Deferred(ref requests) => requests.clone(),
    };
    let mut decisions = DeferredToolResults::new();
    let mut approved = false;
    for call in &requests.approvals {
        let purchase = format!("{} {}", call.tool_name, call.args.to_json_string());
        if customer.approves(&purchase) {
            approved = true;
            decisions.approve(call);
        } else {
            decisions.deny(call, "The customer declined the purchase.");
        }
    }
    let done = booking
        .resume(decisions)
        .message_history(first.all_messages().to_vec())
        .deps(Arc::clone(bookings))
        .usage(usage.clone())
        .await?;
    match (approved, done.output) {
        (true, Deferrable::Output(confirmation)) => Ok(Outcome::Booked { confirmation }),
        _ => Ok(Outcome::Declined),
    }
}

/// Restrict how many requests the whole booking can make.
fn limits() -> UsageLimits {
    UsageLimits {
        request_limit: Some(15),
        ..UsageLimits::default()
    }
}

#[tokio::main]
async fn main() -> verity::Result<()> {
    let models = Models::from_env()?;
    let mut customer: Box<dyn Customer> = if std::env::args().any(|a| a == "--interactive") {
        Box::new(TerminalCustomer)
    } else {
        Box::new(ScriptedCustomer {
            seat_wishes: vec!["somewhere nice", "a window seat with leg room"],
            approve: true,
        })
    };
    let bookings = Arc::new(Bookings::default());
    let usage = SharedUsage::new(RunUsage::default(), limits());
    let outcome = book(&models, customer.as_mut(), &bookings, &usage).await?;
    println!("{outcome:?}");
    println!("{:?}", usage.current());
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn scripted_customer(approve: bool) -> ScriptedCustomer {
        ScriptedCustomer {
            seat_wishes: vec!["somewhere nice", "a window seat with leg room"],
            approve,
        }
    }

    #[tokio::test]
    async fn finds_seats_and_buys_once_approved_on_one_usage() {
        let models = Models::scripted();
        let bookings = Arc::new(Bookings::default());
        let usage = SharedUsage::new(RunUsage::default(), limits());
        let outcome = book(&models, &mut scripted_customer(true), &bookings, &usage)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            Outcome::Booked {
                confirmation: "Done: Purchased NYC-LA101 seat 1A.".into()
            }
        );
        assert_eq!(
            *bookings.purchased.lock().unwrap(),
            vec![("NYC-LA101".to_string(), "1A".to_string())]
        );
        // search: 3 requests (tool, wrong flight, right flight) + extraction 1,
        // seat: 2 runs of 1, booking: 1 before the approval + 1 after
        let total = usage.current();
        assert_eq!(total.requests, 3 + 1 + 2 + 2);
        assert_eq!(total.tool_calls, 2, "extract_flights and buy_tickets");
    }

    #[tokio::test]
    async fn a_declined_purchase_buys_nothing() {
        let models = Models::scripted();
        let bookings = Arc::new(Bookings::default());
        let usage = SharedUsage::new(RunUsage::default(), limits());
        let outcome = book(&models, &mut scripted_customer(false), &bookings, &usage)
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::Declined);
        assert!(bookings.purchased.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_shared_request_limit_stops_the_delegated_run() {
        let models = Models::scripted();
        let bookings = Arc::new(Bookings::default());
        // the search agent's first request and the extraction agent's would be 2
        let usage = SharedUsage::new(
            RunUsage::default(),
            UsageLimits {
                request_limit: Some(1),
                ..UsageLimits::default()
            },
        );
        let err = book(&models, &mut scripted_customer(true), &bookings, &usage)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UsageLimitExceeded(_)), "{err:?}");
        // only the search agent's first request was made: the extraction run its tool
        // started was stopped before its request
        assert_eq!(usage.current().requests, 1);
        assert!(bookings.purchased.lock().unwrap().is_empty());
    }
}
