//! The question graph: one agent asks a question, a human answers, another agent
//! evaluates the answer; a wrong answer is reprimanded and a new question asked, until
//! an answer is correct.
//!
//! The human's answer pauses the run, which is saved to JSON files; a later invocation
//! resumes it from there:
//!
//! ```sh
//! cargo run -p verity-graph --example question_graph            # asks a question, exits
//! cargo run -p verity-graph --example question_graph -- Paris   # resumes with the answer
//! ```
//!
//! The two agents are Verity agents; offline they run on scripted models (a
//! `FunctionModel` playing a quiz master), and `VERITY_MODEL` (e.g. `openai:gpt-4o`)
//! puts a real model behind both. The graph crate itself depends on nothing of Verity:
//! the agents live in the deps, which are never persisted.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use verity::ModelRef;
use verity::messages::last_user_prompt;
use verity::prelude::*;
use verity_graph::{
    FilePersistence, Graph, GraphContext, GraphError, Next, Node, NodeError, Progress, graph,
};

/// The run's state: the questions asked and the evaluations, as the agents' history.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct QuestionState {
    /// The questions asked so far.
    pub asked: Vec<String>,
    /// The evaluator's comments so far.
    pub comments: Vec<String>,
}

/// The evaluation agent's verdict.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Evaluation {
    /// Whether the answer is correct.
    correct: bool,
    /// A comment for the user.
    comment: String,
}

/// The two agents: one asks questions, one evaluates answers.
#[derive(Debug, Clone)]
pub struct Agents {
    ask: Agent<(), String>,
    evaluate: Agent<(), Evaluation>,
}

/// The quiz the scripted models play: questions and their answers, asked in turn.
const QUIZ: [(&str, &str); 2] = [
    ("What is the capital of France?", "Paris"),
    ("How many legs does a spider have?", "8"),
];

impl Default for Agents {
    fn default() -> Self {
        let (ask, evaluate) = match std::env::var("VERITY_MODEL") {
            Ok(name) if !name.is_empty() && name != "scripted" => match infer_model(&name) {
                Ok(model) => (model.clone(), model),
                Err(e) => {
                    eprintln!("{e}; using the scripted models");
                    scripted()
                }
            },
            _ => scripted(),
        };
        Agents {
            ask: Agent::builder(ask)
                .instructions("Ask a simple question with a single correct answer.")
                .build(),
            evaluate: Agent::builder(evaluate)
                .instructions(
                    "Given a question and an answer, evaluate whether the answer is correct.",
                )
                .output::<Evaluation>()
                .build(),
        }
    }
}

/// Scripted stand-ins: the question model asks the quiz in turn (it counts the questions
/// listed in the prompt); the evaluation model compares the answer with the quiz's.
fn scripted() -> (ModelRef, ModelRef) {
    let ask = FunctionModel::new(|messages: &[ModelMessage], _: &AgentInfo| {
        let prompt = last_user_prompt(messages).unwrap_or_default();
        let asked = prompt.matches("<question>").count();
        let question = QUIZ.iter().cycle().nth(asked).map_or("", |(q, _)| *q);
        ModelResponse::text(question)
    });
    let evaluate = FunctionModel::new(|messages: &[ModelMessage], _: &AgentInfo| {
        let prompt = last_user_prompt(messages).unwrap_or_default();
        let between = |tag: &str| {
            let open = format!("<{tag}>");
            let close = format!("</{tag}>");
            prompt
                .split_once(&open)
                .and_then(|(_, rest)| rest.split_once(&close))
                .map(|(inner, _)| inner.trim().to_owned())
                .unwrap_or_default()
        };
        let (question, answer) = (between("question"), between("answer"));
        let correct = QUIZ
            .iter()
            .any(|(q, a)| *q == question && answer.eq_ignore_ascii_case(a));
        let comment = if correct {
            "Well done, that is correct!".to_owned()
        } else {
            format!("{answer:?} is wrong, try again.")
        };
        ModelResponse::tool_call(
            "final_result",
            serde_json::json!({"correct": correct, "comment": comment}),
        )
    });
    (ask.into_model(), evaluate.into_model())
}

impl Agents {
    /// The question agent: a new question, given those asked so far.
    async fn ask(&self, asked: &[String]) -> Result<String, NodeError> {
        let listed: String = asked
            .iter()
            .map(|q| format!("<question>{q}</question>"))
            .collect();
        let prompt = format!("Ask a new question. Asked so far: {listed}");
        let result = self
            .ask
            .run(prompt)
            .await
            .map_err(|e| NodeError::msg(e.to_string()))?;
        Ok(result.output)
    }

    /// The evaluation agent: whether `answer` answers `question`, with a comment.
    async fn evaluate(&self, question: &str, answer: &str) -> Result<(bool, String), NodeError> {
        let prompt = format!("<question>{question}</question><answer>{answer}</answer>");
        let result = self
            .evaluate
            .run(prompt)
            .await
            .map_err(|e| NodeError::msg(e.to_string()))?;
        Ok((result.output.correct, result.output.comment))
    }
}

/// Asks the question agent for a question.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ask;

/// Waits for the human's answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Answer {
    question: String,
}

/// Has the evaluation agent judge the answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Evaluate {
    question: String,
    answer: String,
}

/// Tells the human the answer was wrong.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reprimand {
    comment: String,
}

graph! {
    /// The question graph.
    #[derive(Debug)]
    pub enum QuestionGraph {
        type State = QuestionState;
        type Deps = Agents;
        type Output = String;
        /// Ask the question agent for a question.
        Ask => [Answer],
        /// Wait for the human's answer (pauses the run).
        Answer => [Evaluate],
        /// Have the evaluation agent judge the answer.
        Evaluate => [End: "correct", Reprimand: "incorrect"],
        /// Tell the human, then ask again.
        Reprimand => [Ask],
    }
}

type Ctx = GraphContext<QuestionState, Agents>;

impl Node<QuestionGraph> for Ask {
    async fn run(&self, ctx: &mut Ctx) -> Result<Next<Self, QuestionGraph>, NodeError> {
        let question = ctx.deps().ask(&ctx.state.asked).await?;
        ctx.state.asked.push(question.clone());
        Ok(Next::goto(Answer { question }))
    }
}

impl Node<QuestionGraph> for Answer {
    async fn run(&self, ctx: &mut Ctx) -> Result<Next<Self, QuestionGraph>, NodeError> {
        match ctx.take_input::<String>()? {
            None => Ok(Next::pause(self.question.clone())),
            Some(answer) => Ok(Next::goto(Evaluate {
                question: self.question.clone(),
                answer,
            })),
        }
    }
}

impl Node<QuestionGraph> for Evaluate {
    async fn run(&self, ctx: &mut Ctx) -> Result<Next<Self, QuestionGraph>, NodeError> {
        let (correct, comment) = ctx.deps().evaluate(&self.question, &self.answer).await?;
        ctx.state.comments.push(comment.clone());
        Ok(if correct {
            Next::end(comment)
        } else {
            Next::goto(Reprimand { comment })
        })
    }
}

impl Node<QuestionGraph> for Reprimand {
    async fn run(&self, _ctx: &mut Ctx) -> Result<Next<Self, QuestionGraph>, NodeError> {
        Ok(Next::goto(Ask))
    }
}

/// The run's id in the persistence directory.
pub const RUN_ID: &str = "question";

/// One invocation: starts the run (no answer) or resumes it with `answer`; returns what
/// to print. The run is saved in `dir`; once it ended the next invocation starts anew.
pub async fn invoke(dir: &Path, answer: Option<&str>) -> Result<String, Box<dyn Error>> {
    let graph = Graph::<QuestionGraph>::new();
    let persistence = Arc::new(FilePersistence::new(dir));
    let mut run = match graph.resume(persistence.clone(), RUN_ID, Agents::default()) {
        Ok(run) if run.output().is_none() => run,
        Ok(_) | Err(GraphError::UnknownRun(_)) => {
            let path = persistence.path(RUN_ID)?;
            if path.exists() {
                std::fs::remove_file(path)?;
            }
            if answer.is_some() {
                return Err("no question is waiting for an answer: run without one first".into());
            }
            graph
                .iter(Ask, QuestionState::default(), Agents::default())
                .persistence(persistence)?
                .with_run_id(RUN_ID)?
        }
        Err(error) => return Err(error.into()),
    };
    if let Some(answer) = answer {
        if run.paused().is_none() {
            return Err("the run is not waiting for an answer".into());
        }
        run.provide_input(answer)?;
    }
    let mut out = String::new();
    let comments_before = run.state().comments.len();
    let stop = run.run().await?;
    for comment in run.state().comments.iter().skip(comments_before) {
        out.push_str(comment);
        out.push('\n');
    }
    match stop {
        Progress::Paused { prompt, .. } => {
            out.push_str(&format!("Question: {prompt}\n"));
            out.push_str(
                "(answer with: cargo run -p verity-graph --example question_graph -- ANSWER)\n",
            );
        }
        Progress::End => out.push_str("The end.\n"),
        Progress::Next { .. } => {}
    }
    Ok(out)
}

/// The directory of the saved run: `$QUESTION_GRAPH_DIR`, or `question_graph` in the
/// system's temporary directory.
fn run_dir() -> PathBuf {
    std::env::var_os("QUESTION_GRAPH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("question_graph"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let answer = std::env::args().nth(1);
    if answer.as_deref() == Some("--mermaid") {
        println!("{}", Graph::<QuestionGraph>::new().mermaid());
        return Ok(());
    }
    print!("{}", invoke(&run_dir(), answer.as_deref()).await?);
    Ok(())
}
