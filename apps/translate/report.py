"""How translate's verbs print their results for a person."""


def metrics_line(result: dict) -> str:
    """The figures a user checks first."""
    return (
        f"sacreBLEU {result['bleu']:.2f}, chrF {result['chrf']:.2f}, "
        f"perplexity {result['perplexity']:.3f}, exact match "
        f"{result['exact_match']:.3f} on {result['sentences']} "
        f"{result['split']} sentences (beam {result['beam_size']}, alpha "
        f"{result['alpha']}; {result['sentences_per_second']} sentences/s)"
    )


def analysis_line(result: dict) -> str:
    """The error analysis in one sentence."""
    return (
        f"Error analysis on {result['sentences']} {result['split']} "
        f"sentences: {result['correct']} exact; of the wrong ones, "
        f"{result['search_share']:.1%} are search errors (P(y*|x) > "
        f"P(y_hat|x): a wider beam may help) and {result['model_share']:.1%}"
        " model errors (the model prefers its wrong output)"
    )
