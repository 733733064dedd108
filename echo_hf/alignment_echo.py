"""Word timestamps from Echo's CTC head: forced alignment of the decoded tokens to the encoder's positions.

The decoder says *what* was said; the encoder's CTC head (trained as the auxiliary loss, blank = id 0) says *when*.
`ctc_forced_align` finds the single most likely CTC path that spells exactly the decoded tokens (Viterbi over the
usual blank-interleaved states), so each token gets the encoder positions it was emitted at; `word_spans` groups the
tokens into words at the tokens that begin with whitespace, and turns positions into seconds.
"""

import torch


def ctc_forced_align(log_probs: torch.Tensor, tokens: list[int], blank: int = 0) -> list[tuple[int, int]] | None:
    """The positions [start, end) each of `tokens` occupies on the best CTC path of `log_probs` (positions, vocab)
    that collapses to exactly `tokens`; None when no such path fits (fewer positions than the tokens need)."""
    if not tokens:
        return []
    log_probs = log_probs.float()
    positions = log_probs.shape[0]
    states = torch.full((2 * len(tokens) + 1,), blank, dtype=torch.long)
    states[1::2] = torch.tensor(tokens)
    # A state may be entered from itself, the state before, or (a token, not a repeat of the token two before) skip
    # the blank between them.
    skip = torch.zeros(len(states), dtype=torch.bool)
    skip[3::2] = states[3::2] != states[1:-2:2]
    emissions = log_probs[:, states]  # (positions, states)
    score = torch.full((len(states),), float("-inf"))
    score[:2] = emissions[0, :2]
    came_from = torch.zeros(positions, len(states), dtype=torch.long)
    unreachable = score.new_full((2,), float("-inf"))
    for t in range(1, positions):
        step = torch.cat([unreachable[:1], score[:-1]])
        jump = torch.cat([unreachable, score[:-2]]).masked_fill(~skip, float("-inf"))
        best, move = torch.stack([score, step, jump]).max(0)  # move: 0 stay, 1 from the state before, 2 skip
        came_from[t] = move
        score = best + emissions[t]
    end = len(states) - 1 if score[-1] >= score[-2] else len(states) - 2
    if not torch.isfinite(score[end]):
        return None
    path = [end]
    for t in range(positions - 1, 0, -1):
        path.append(path[-1] - int(came_from[t, path[-1]]))
    path.reverse()
    spans: list[list[int]] = [[-1, -1] for _ in tokens]
    for t, state in enumerate(path):
        if state % 2:  # a token's state
            span = spans[state // 2]
            span[0] = t if span[0] < 0 else span[0]
            span[1] = t + 1
    return [tuple(span) for span in spans]


def path_score(log_probs: torch.Tensor, spans: list[tuple[int, int]], tokens: list[int], blank: int = 0) -> float:
    """The log-probability of the CTC path that emits each token over its span and blank everywhere else."""
    labels = torch.full((log_probs.shape[0],), blank, dtype=torch.long)
    for token, (start, end) in zip(tokens, spans, strict=True):
        labels[start:end] = token
    return float(log_probs.float().gather(1, labels[:, None]).sum())


def word_spans(pieces: list[str], spans: list[tuple[int, int]] | None, seconds_per_position: float) -> list[dict]:
    """Words with their (start, end) seconds from each token's decoded text (`pieces`) and its span of positions.

    A word starts at the first token and at every token whose text begins with whitespace; tokens that are only
    whitespace separate words and carry no time. Without spans (no alignment fitted) the times are None.
    """
    words: list[dict] = []
    for index, piece in enumerate(pieces):
        if not words or piece[:1].isspace():
            words.append({"text": "", "first": None, "last": None})
        if piece.strip():
            word = words[-1]
            word["text"] += piece if word["text"] else piece.lstrip()
            word["first"] = index if word["first"] is None else word["first"]
            word["last"] = index
    chunks = []
    for word in words:
        if not word["text"]:
            continue
        if spans is None:
            timestamp = (None, None)
        else:
            start, end = spans[word["first"]][0], spans[word["last"]][1]
            timestamp = (round(start * seconds_per_position, 3), round(end * seconds_per_position, 3))
        chunks.append({"text": word["text"].strip(), "timestamp": timestamp})
    return chunks


__all__ = ["ctc_forced_align", "path_score", "word_spans"]
