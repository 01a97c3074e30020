"""How embed's verbs print their results for a person: each function
takes the verb's result and its parsed arguments."""

from apps.common.cli import print_json


def percent(value: float) -> str:
    """`0.123` -> `12.3 %`."""
    return f"{100 * value:.1f} %"


def print_evaluation(result: dict, args=None) -> None:
    """The figures a user checks first, one line each."""
    if "perplexity" in result:
        print(
            f"Perplexity {result['perplexity']:.2f} on {result['tokens']:,} "
            f"{result['split']} tokens ({result['method']})"
        )
    analogies = result.get("analogies")
    if analogies:
        total = analogies["total"]
        print(
            f"Analogies: {percent(total['accuracy'])} of "
            f"{total['total']:,} questions in vocabulary (coverage "
            f"{percent(total['coverage'])} of {total['questions']:,}); "
            f"semantic {percent(analogies['semantic']['accuracy'])}, "
            f"syntactic {percent(analogies['syntactic']['accuracy'])}"
        )
        for name, row in analogies["sections"].items():
            print(
                f"  {name:28s} {percent(row['accuracy']):>7s}  "
                f"({row['correct']}/{row['total']} of {row['questions']})"
            )
    for name, row in result.get("word_pairs", {}).items():
        print(
            f"{name}: Spearman {row['spearman']:.3f} on {row['pairs']} of "
            f"{row['total']} pairs"
        )
    for path in result.get("skipped", []):
        print(f"(skipped {path}: not found)")


def print_query(result: dict, args) -> None:
    """Neighbours, the analogy's answers and the cosine, or `--json`."""
    if args.json:
        print_json(result)
        return
    for word, rows in result.get("neighbors", {}).items():
        print(f"{word}: " + ", ".join(f"{w} {s:.3f}" for w, s in rows))
    if "analogy" in result:
        rows = result["analogy"]["answers"]
        print(
            f"{result['analogy']['query']} = "
            + ", ".join(f"{w} {s:.3f}" for w, s in rows)
        )
    if "similarity" in result:
        a, b = result["similarity"]["words"]
        print(f"cos({a}, {b}) = {result['similarity']['cosine']:.4f}")


def print_plot(result: dict, args) -> None:
    """Where the t-SNE map went."""
    print(f"t-SNE of {result['words']} words: {result['png']}")


def print_export(result: dict, args) -> None:
    """The SavedModel and its check, the word2vec text, the projector."""
    print(
        f"SavedModel: {result['path']} (signatures lookup, neighbors; "
        f"fresh-process check on {result['checked_words']} words, max "
        f"|diff| {result['max_abs_diff']:.2g})"
    )
    print(f"word2vec text: {result['word2vec_text']}")
    print(f"TensorBoard projector: {result['projector']}")


def print_sample(text: str, args) -> None:
    """The prompt and its continuation on one line."""
    print(f"{args.prompt} {text}".strip())
