"""Word timestamps: which encoder positions each decoded token was spoken at.

The decoder says *what* was said; two things say *when*:

- the encoder's CTC head (trained as the auxiliary loss, blank = id 0): `ctc_forced_align` finds the single most
  likely CTC path that spells exactly the decoded tokens (Viterbi over the usual blank-interleaved states), so each
  token gets the positions it was emitted at;
- for a model without one, the decoder's cross-attention: `attention_token_spans` takes the config's
  `alignment_heads`, normalises each head's weights over the tokens, smooths them along time and averages the heads,
  then `dtw_path` finds the monotonic path through the tokens and positions that collects the most attention (as
  Whisper does).

`word_spans` groups the tokens into words at the tokens that begin with whitespace, and turns positions into seconds.
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


def dtw_path(cost: torch.Tensor) -> list[tuple[int, int]]:
    """The cheapest monotonic path through `cost` (rows, columns) from some cell of its first row to some cell of its
    last, moving one row, one column or both at each step: the (row, column) cells it visits, in order (ties go
    diagonal). Both ends are free because the tokens need not fill the clip: it may begin and end in silence."""
    rows, columns = cost.shape
    values = cost.double().tolist()  # Python floats: the recursion is sequential, and small
    inf = float("inf")
    total = [[0.0] * (columns + 1)] + [[inf] * (columns + 1) for _ in range(rows)]
    for i in range(1, rows + 1):
        above, here, row_cost = total[i - 1], total[i], values[i - 1]
        for j in range(1, columns + 1):
            here[j] = row_cost[j - 1] + min(above[j - 1], above[j], here[j - 1])
    i, j = rows, min(range(1, columns + 1), key=lambda column: total[rows][column])
    path = []
    while i > 0:
        path.append((i - 1, j - 1))
        diagonal, up, left = total[i - 1][j - 1], total[i - 1][j], total[i][j - 1]
        if i == 1 and diagonal <= left:  # the path starts here: the row above is the free start
            break
        if diagonal <= up and diagonal <= left:
            i, j = i - 1, j - 1
        elif up <= left:
            i -= 1
        else:
            j -= 1
    return path[::-1]


def attention_token_spans(weights: torch.Tensor, filter_width: int = 7) -> list[tuple[int, int]]:
    """The positions [start, end) of each token from cross-attention `weights` (heads, tokens, positions): row k is
    the attention of the decoder step that emitted token k, over the clip's valid positions only."""
    heads, tokens, positions = weights.shape
    if tokens == 0:
        return []
    weights = weights.float()
    if tokens > 1:  # each head's weights as standard scores over the tokens: heads that attend sharply count alike
        weights = (weights - weights.mean(1, keepdim=True)) / weights.std(1, keepdim=True).clamp_min(1e-6)
    width = min(filter_width, positions) // 2 * 2 + 1 if positions > 1 else 1
    if width > 1:  # a running median along time removes single-position spikes
        padded = torch.nn.functional.pad(weights.flatten(0, 1)[:, None], (width // 2, width // 2), mode="reflect")
        weights = padded.unfold(-1, width, 1).median(-1).values.view(heads, tokens, positions)
    path = dtw_path(-weights.mean(0))
    spans = [[positions, 0] for _ in range(tokens)]
    for token, position in path:
        spans[token][0] = min(spans[token][0], position)
        spans[token][1] = max(spans[token][1], position + 1)
    return [tuple(span) for span in spans]


def word_token_groups(pieces: list[str]) -> list[list[int]]:
    """The tokens of each word, by index, given each token's decoded text: a word starts at the first token and at
    every token whose text begins with whitespace (a token that is only whitespace starts the word after it)."""
    groups: list[list[int]] = []
    for index, piece in enumerate(pieces):
        if not groups or piece[:1].isspace():
            groups.append([])
        groups[-1].append(index)
    return [group for group in groups if any(pieces[index].strip() for index in group)]


def word_spans(pieces: list[str], spans: list[tuple[int, int]] | None, seconds_per_position: float) -> list[dict]:
    """Words with their (start, end) seconds from each token's decoded text (`pieces`) and its span of positions.

    Words are `word_token_groups`; tokens that are only whitespace carry no time. Without spans (no alignment
    fitted) the times are None.
    """
    chunks = []
    for group in word_token_groups(pieces):
        spoken = [index for index in group if pieces[index].strip()]
        if spans is None:
            timestamp = (None, None)
        else:
            start, end = spans[spoken[0]][0], spans[spoken[-1]][1]
            timestamp = (round(start * seconds_per_position, 3), round(end * seconds_per_position, 3))
        chunks.append({"text": "".join(pieces[index] for index in group).strip(), "timestamp": timestamp})
    return chunks


__all__ = ["attention_token_spans", "ctc_forced_align", "dtw_path", "path_score", "word_spans", "word_token_groups"]
