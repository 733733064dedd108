"""What the encoder's CTC head adds to decoding: joint CTC/attention scores, and whether the audio holds speech.

Joint decoding (Watanabe et al., 2017) scores a hypothesis `g` extended by token `c` with
`(1 - w) * log p_att(c | g) + w * (log p_ctc(g c ...) - log p_ctc(g ...))`, where `p_ctc(h ...)` is the CTC *prefix*
probability: that the CTC head's output begins with `h`, summed over every alignment and every continuation. The
CTC term vetoes what the audio does not support (an attention decoder looping or stopping early), the attention term
supplies the language. `CTCPrefixScorer` is a `LogitsProcessor`, so greedy search and transformers' beam search use
it unchanged; it scores only the attention's `candidates` best tokens per hypothesis (the rest get -inf), which keeps
a step at `O(hypotheses * candidates * positions)` whatever the vocabulary.

The recursions over positions are linear in probability space, so each step is a few cumulative log-sum-exps over the
position axis instead of a Python loop over positions. Sums of per-position log-probabilities reach thousands, so
this runs in float64.

`no_speech_probability` is the CTC head's verdict on a whole clip: how much of it is blank.
"""

import torch
from transformers import LogitsProcessor

NEG_INF = float("-inf")


def no_speech_probability(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """(batch,): the mean CTC blank probability over each clip's valid positions of `log_probs` (batch, positions,
    vocab), the share of the clip the CTC head hears no token in. Speech sits well below 1 (a token every other
    position or so: the bundled demo model's test clips average 0.34, 95% of them under 0.57); noise, hum and
    silence sit near 1."""
    blank_probs = log_probs[..., blank].float().exp()
    valid = torch.arange(log_probs.shape[1], device=log_probs.device)[None, :] < lengths.to(log_probs.device)[:, None]
    return (blank_probs * valid).sum(-1) / valid.sum(-1).clamp_min(1)


class CTCPrefixState:
    """The CTC forward variables of one prefix over all positions: `label` (ends in the prefix's last token) and
    `blank` (ends in a blank), log-probabilities; its prefix score; and its last token (-1 for the empty prefix)."""

    def __init__(self, label: torch.Tensor, blank: torch.Tensor, score: torch.Tensor, last: int):
        self.label, self.blank, self.score, self.last = label, blank, score, last


def initial_state(log_probs: torch.Tensor, blank: int = 0) -> CTCPrefixState:
    """The empty prefix of one clip's `log_probs` (positions, vocab): every path so far is blanks; its score is 0."""
    label = torch.full(log_probs.shape[:1], NEG_INF, dtype=torch.float64, device=log_probs.device)
    blank_path = log_probs[:, blank].double().cumsum(0)
    return CTCPrefixState(label, blank_path, torch.zeros((), dtype=torch.float64, device=log_probs.device), -1)


def extend(
    token_log_probs: torch.Tensor,
    blank_log_probs: torch.Tensor,
    lengths: torch.Tensor,
    states: list[CTCPrefixState],
    tokens: torch.Tensor,
    blank: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Prefix scores of n prefixes (`states`) each extended by each of its `tokens` (n, k), over the first
    `lengths` (n,) positions of its clip: `token_log_probs` (n, positions, k) are the CTC log-probabilities of those
    tokens and `blank_log_probs` (n, positions) the blank's. Returns (scores (n, k), label (n, k, positions), blank
    (n, k, positions)); the token `blank` (which is also the end of text) scores the whole prefix's probability,
    `log p_ctc(prefix)`. Only the k columns are taken, never the vocabulary: a step's memory is n * k * positions."""
    positions = token_log_probs.shape[1]
    label = torch.stack([state.label for state in states])  # (n, positions)
    blank_path = torch.stack([state.blank for state in states])
    last = torch.tensor([state.last for state in states], device=tokens.device)
    x = token_log_probs.double().transpose(1, 2)  # (n, k, positions)
    x_blank = blank_log_probs.double()  # (n, positions)
    # phi[t]: the prefix complete by position t - 1 such that position t may start a new token c; a repeat of the
    # last token must have a blank between. The empty prefix is complete before position 0 (phi[0] = log 1).
    previous_label = label[:, None, :].masked_fill((tokens == last[:, None])[..., None], NEG_INF)
    phi = torch.logaddexp(blank_path[:, None, :], previous_label)
    start = torch.where(last < 0, 0.0, NEG_INF).to(phi)[:, None, None].expand(-1, tokens.shape[1], 1)
    phi = torch.cat([start, phi[..., :-1]], dim=-1)  # phi[..., t] uses the prefix's variables at t - 1
    # label[t] = logaddexp(label[t-1], phi[t]) + x[t], as a cumulative sum: X[t] + logcumsumexp(phi[s] - X[s-1]).
    x_sum = x.cumsum(-1)
    x_before = torch.cat([torch.zeros_like(x_sum[..., :1]), x_sum[..., :-1]], dim=-1)
    new_label = x_sum + torch.logcumsumexp(phi - x_before, dim=-1)
    # blank[t] = logaddexp(blank[t-1], label[t-1]) + x_blank[t], blank[0] = -inf: the same form.
    b_sum = x_blank.cumsum(-1)[:, None, :]
    b_before = torch.cat([torch.zeros_like(b_sum[..., :1]), b_sum[..., :-1]], dim=-1)
    label_before = torch.cat([torch.full_like(new_label[..., :1], NEG_INF), new_label[..., :-1]], dim=-1)
    new_blank = b_sum + torch.logcumsumexp(label_before - b_before, dim=-1)
    inside = torch.arange(positions, device=x.device)[None, None, :] < lengths[:, None, None].to(x.device)
    scores = (phi + x).masked_fill(~inside, NEG_INF).logsumexp(-1)
    end = (lengths.to(x.device) - 1)[:, None]
    whole = torch.logaddexp(label.gather(1, end), blank_path.gather(1, end))  # (n, 1)
    scores = torch.where(tokens == blank, whole, scores)
    return scores, new_label, new_blank


class CTCPrefixScorer(LogitsProcessor):
    """Joint CTC/attention decoding as a logits processor.

    Args:
        log_probs (`torch.Tensor` of shape `(batch, positions, vocab)`): the CTC head's log-probabilities.
        lengths (`torch.Tensor` of shape `(batch,)`): valid positions of each clip.
        ctc_weight (`float`): `w` in `(1 - w) * attention + w * CTC`, in (0, 1].
        candidates (`int`): tokens scored per hypothesis and step, the attention's best; others get -inf.
        blank (`int`): the CTC blank, which is also Echo's end of text (id 0).

    The rows `generate` passes are the batch's clips, each repeated `rows // batch` times (beams), in order. Rows
    holding an end of text (finished, padded by greedy search) are left as they are.
    """

    def __init__(self, log_probs: torch.Tensor, lengths: torch.Tensor, ctc_weight: float, candidates: int, blank=0):
        if not 0 < ctc_weight <= 1:
            raise ValueError(f"`ctc_weight` must be in (0, 1], got {ctc_weight}.")
        if candidates < 1:
            raise ValueError(f"`ctc_candidates` must be at least 1, got {candidates}.")
        self.log_probs, self.lengths = log_probs.float(), lengths.to(log_probs.device)
        self.ctc_weight, self.candidates, self.blank = ctc_weight, candidates, blank
        self.prompt_length: int | None = None
        self.states: dict[tuple[int, tuple[int, ...]], CTCPrefixState] = {}

    def state(self, clip: int, prefix: tuple[int, ...]) -> CTCPrefixState:
        """The forward variables of `prefix`: kept from the step that scored it, else rebuilt token by token."""
        known = self.states.get((clip, prefix))
        if known is not None:
            return known
        state = initial_state(self.log_probs[clip], self.blank)
        blank_log_probs = self.log_probs[clip : clip + 1, :, self.blank]
        for token in prefix:
            tokens = torch.tensor([[token]], device=self.log_probs.device)
            token_log_probs = self.log_probs[clip : clip + 1, :, token : token + 1]
            score, label, blank = extend(
                token_log_probs, blank_log_probs, self.lengths[clip : clip + 1], [state], tokens, self.blank
            )
            state = CTCPrefixState(label[0, 0], blank[0, 0], score[0, 0], token)
        return state

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        attention = scores.float().log_softmax(-1)
        rows_per_clip = input_ids.shape[0] // self.log_probs.shape[0]
        prefixes = [tuple(ids) for ids in input_ids[:, self.prompt_length :].tolist()]
        live = [row for row, prefix in enumerate(prefixes) if self.blank not in prefix]  # the rest have ended
        joint = attention.clone()
        if not live:
            self.states = {}
            return joint.to(scores.dtype)
        clips = [row // rows_per_clip for row in live]
        states = [self.state(clip, prefixes[row]) for clip, row in zip(clips, live, strict=True)]
        top = attention[live].topk(min(self.candidates, attention.shape[-1]), dim=-1).indices  # (live, k)
        device = self.log_probs.device
        clip_index = torch.tensor(clips, device=device)
        top_index = top.to(device)
        positions = torch.arange(self.log_probs.shape[1], device=device)
        token_log_probs = self.log_probs[clip_index[:, None, None], positions[None, :, None], top_index[:, None, :]]
        blank_log_probs = self.log_probs[clip_index, :, self.blank]
        ctc, label, blank = extend(
            token_log_probs, blank_log_probs, self.lengths[clip_index], states, top_index, self.blank
        )
        before = torch.stack([state.score for state in states])[:, None]
        # A prefix the CTC head rules out (score -inf) stays ruled out: -inf - -inf would be NaN, which topk ranks
        # above every number.
        gain = torch.where(torch.isinf(before), NEG_INF, ctc - before).to(attention.device, torch.float32)
        rows = torch.tensor(live, device=attention.device)
        # Only the candidates stay finite; a token CTC rules out entirely gets -inf: the audio cannot hold it.
        joint[rows] = NEG_INF
        candidates = attention[rows[:, None], top]  # -inf where an earlier processor ruled a token out: keep it so
        weighted = torch.where(torch.isneginf(candidates), NEG_INF, (1 - self.ctc_weight) * candidates)  # not 0*-inf
        joint[rows[:, None], top] = weighted + self.ctc_weight * gain
        # Every live hypothesis of the next step is one of this step's extensions: keep exactly those.
        self.states = {
            (clip, (*prefixes[row], token)): CTCPrefixState(label[n, k], blank[n, k], ctc[n, k], token)
            for n, (clip, row) in enumerate(zip(clips, live, strict=True))
            for k, token in enumerate(top[n].tolist())
            if token != self.blank
        }
        return joint.to(scores.dtype)


__all__ = ["CTCPrefixScorer", "extend", "initial_state", "no_speech_probability"]
