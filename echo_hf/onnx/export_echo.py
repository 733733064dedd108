"""Export a trained Echo to ONNX: an encoder graph and a one-token decoder step graph with its key/value cache.

    python -m echo_hf.onnx.export_echo runs/demo runs/demo-onnx [--opset 18] [--no-int8]

The graphs are traced from the PyTorch model by `torch.onnx.export(..., dynamo=True)`, so they compute what
`EchoForConditionalGeneration` computes, soft zero mask included:

- ``encoder.onnx``: log-mels, waveform and both masks -> the cross-attention keys and values of every decoder layer,
  stacked (layers, batch, heads, audio positions, marked head channels). The keys are made once per clip, already
  carrying the zero mark (`mark_zero_keys`), so the decoder never needs the zero mask itself.
- ``decoder.onnx``: one new token per clip, the self-attention cache so far and the cross keys/values -> the next
  token's logits and the cache with the new token appended. At the first step the cache is empty (0 positions).

Beside them: the model's config and generation config, the processor files, and ``onnx_config.json``, which records
the opset and the dimensions the graphs were traced with, so a folder that does not match is refused on load.
``int8/`` holds the same graphs with their weights dynamically quantised to int8 (onnxruntime's `quantize_dynamic`).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from torch import nn
from transformers.cache_utils import EncoderDecoderCache

from ..attention_echo import mark_zero_keys
from ..modeling_echo import EchoForConditionalGeneration

MANIFEST = "onnx_config.json"
FORMAT_VERSION = 1
DEFAULT_OPSET = 18
ENCODER_INPUTS = ("input_features", "attention_mask", "waveform", "waveform_attention_mask")
ENCODER_OUTPUTS = ("cross_keys", "cross_values")
DECODER_INPUTS = ("input_ids", "past_keys", "past_values", "cross_keys", "cross_values")
DECODER_OUTPUTS = ("logits", "present_keys", "present_values")
# The config values the graphs bake in: a folder whose config.json disagrees with them is refused on load.
TRACED_CONFIG = (
    "model_type",
    "vocab_size",
    "num_mel_bins",
    "d_model",
    "decoder_layers",
    "decoder_attention_heads",
    "max_source_positions",
    "max_target_positions",
    "samples_per_position",
    "zero_attention_mode",
    "zero_attention_epsilon",
)


class EchoEncoderGraph(nn.Module):
    """Audio -> each decoder layer's marked cross-attention keys and values, as the decoder's first step makes them."""

    def __init__(self, model: EchoForConditionalGeneration):
        super().__init__()
        self.encoder = model.get_encoder()
        self.cross_attentions = nn.ModuleList(layer.cross_attn for layer in model.model.decoder.layers)

    def forward(self, input_features, attention_mask, waveform, waveform_attention_mask):
        encoded = self.encoder(input_features, waveform, attention_mask, waveform_attention_mask, return_dict=True)
        states, zero_mask = encoded.last_hidden_state, encoded.zero_mask
        keys, values = [], []
        for attention in self.cross_attentions:
            key, value = attention._heads(attention.k_proj(states)), attention._heads(attention.v_proj(states))
            key, value = mark_zero_keys(key, value, zero_mask, attention.config)
            keys.append(key)
            values.append(value)
        return torch.stack(keys), torch.stack(values)


class EchoDecoderStepGraph(nn.Module):
    """One decoding step: a token per clip, the cache so far -> next-token logits and the cache with it appended."""

    def __init__(self, model: EchoForConditionalGeneration):
        super().__init__()
        self.decoder, self.proj_out = model.model.decoder, model.proj_out

    def forward(self, input_ids, past_keys, past_values, cross_keys, cross_values):
        layers = zip(past_keys, past_values, cross_keys, cross_values, strict=True)
        cache = EncoderDecoderCache([tuple(tensors) for tensors in layers])  # cross layers marked as computed
        hidden = self.decoder(input_ids, cache=cache, use_cache=True, return_dict=True).last_hidden_state
        logits = self.proj_out(hidden[:, -1])
        self_cache = cache.self_attention_cache.layers
        return (
            logits,
            torch.stack([layer.keys for layer in self_cache]),
            torch.stack([layer.values for layer in self_cache]),
        )


def traced_config(config) -> dict:
    return {name: getattr(config, name) for name in TRACED_CONFIG}


def example_inputs(model: EchoForConditionalGeneration, feature_extractor, seconds: tuple[float, float] = (1.3, 0.9)):
    """A padded batch of two clips of noise, as the feature extractor gives them: the encoder graph's example."""
    rate = feature_extractor.sampling_rate
    generator = torch.Generator().manual_seed(0)
    audio = [0.1 * torch.randn(round(s * rate), generator=generator).numpy() for s in seconds]
    views = feature_extractor(audio, sampling_rate=rate, return_tensors="pt", return_attention_mask=True)
    return tuple(views[name] for name in ENCODER_INPUTS)


def trace(module: nn.Module, args: tuple, path: Path, inputs, outputs, shapes: dict, opset: int) -> None:
    """One graph, traced by torch.export (the dynamo exporter), its weights inside the .onnx file."""
    torch.onnx.export(
        module.eval(),
        args,
        str(path),
        dynamo=True,
        opset_version=opset,
        input_names=list(inputs),
        output_names=list(outputs),
        dynamic_shapes=shapes,
        external_data=False,
    )


def export_graphs(model: EchoForConditionalGeneration, feature_extractor, out: Path, opset: int) -> None:
    """Write encoder.onnx and decoder.onnx for `model` (in eval mode, float32, on CPU) into `out`."""
    batch = torch.export.Dim("batch", min=1, max=1024)
    frames = torch.export.Dim("frames", min=8, max=model.config.max_source_positions * model.config.spectrogram_stride)
    samples = torch.export.Dim.AUTO
    encoder_args = example_inputs(model, feature_extractor)
    encoder_shapes = {
        "input_features": {0: batch, 2: frames},
        "attention_mask": {0: batch, 1: frames},
        "waveform": {0: batch, 1: samples},
        "waveform_attention_mask": {0: batch, 1: samples},
    }
    encoder = EchoEncoderGraph(model)
    trace(encoder, encoder_args, out / "encoder.onnx", ENCODER_INPUTS, ENCODER_OUTPUTS, encoder_shapes, opset)
    with torch.no_grad():
        cross_keys, cross_values = encoder(*encoder_args)
    # The example step has a cache of 3 tokens; its length is a dimension of the graph, 0 at the first step.
    past = torch.export.Dim("past", min=0, max=model.config.max_target_positions - 1)
    positions = torch.export.Dim("positions", min=1, max=model.config.max_source_positions)
    layers, clips, heads, _, channels = cross_keys.shape
    past_keys = torch.randn(layers, clips, heads, 3, channels)
    decoder_args = (torch.tensor([[5], [7]]), past_keys, torch.randn_like(past_keys), cross_keys, cross_values)
    cache_shapes = {1: batch, 3: past}
    cross_shapes = {1: batch, 3: positions}
    decoder_shapes = {
        "input_ids": {0: batch},
        "past_keys": cache_shapes,
        "past_values": cache_shapes,
        "cross_keys": cross_shapes,
        "cross_values": cross_shapes,
    }
    step = EchoDecoderStepGraph(model)
    trace(step, decoder_args, out / "decoder.onnx", DECODER_INPUTS, DECODER_OUTPUTS, decoder_shapes, opset)


def quantize_graphs(out: Path) -> None:
    """int8/: both graphs with int8 weights (dynamic quantisation: activations are quantised per batch at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    (out / "int8").mkdir(exist_ok=True)
    for graph in ("encoder.onnx", "decoder.onnx"):
        quantize_dynamic(out / graph, out / "int8" / graph, weight_type=QuantType.QInt8)


def export_model(
    model: EchoForConditionalGeneration, processor, out: str | Path, opset: int = DEFAULT_OPSET, int8: bool = True
) -> Path:
    """Export `model` with its processor (or only its feature extractor) to the ONNX folder `out`; returns `out`."""
    if model.config.audio_views != "both":
        # The graphs take both views' inputs; a one-view encoder would drop one, and the runtime wrapper feeds both.
        raise ValueError(
            f"ONNX export needs a two-view model; this one has audio_views={model.config.audio_views!r}. "
            "Run it with PyTorch instead."
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).float().cpu().eval()  # traced on the CPU in float32; the caller's model is untouched
    feature_extractor = getattr(processor, "feature_extractor", processor)
    start = time.perf_counter()
    with torch.no_grad():
        export_graphs(model, feature_extractor, out, opset)
    if int8:
        quantize_graphs(out)
    model.config.save_pretrained(out)
    model.generation_config.save_pretrained(out)
    processor.save_pretrained(out)
    manifest = {
        "format_version": FORMAT_VERSION,
        "opset": opset,
        "torch_version": torch.__version__,
        "graphs": {"encoder": "encoder.onnx", "decoder": "decoder.onnx"},
        "variants": {"fp32": ".", **({"int8": "int8"} if int8 else {})},
        "config": traced_config(model.config),
        "export_seconds": round(time.perf_counter() - start, 1),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def export_echo(model_dir: str | Path, out: str | Path, opset: int = DEFAULT_OPSET, int8: bool = True) -> Path:
    """Export the saved Echo folder `model_dir` (model + processor) to the ONNX folder `out`; returns `out`."""
    from transformers import AutoProcessor

    import echo_hf  # noqa: F401  (registers Echo with the Auto classes)

    model = EchoForConditionalGeneration.from_pretrained(model_dir, attn_implementation="sdpa")
    return export_model(model, AutoProcessor.from_pretrained(model_dir), out, opset, int8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export a saved Echo folder to ONNX (fp32 and int8).")
    parser.add_argument("model", help="a saved Echo folder (model + processor)")
    parser.add_argument("out", help="the ONNX folder to write")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 graphs")
    args = parser.parse_args(argv)
    out = export_echo(args.model, args.out, args.opset, int8=not args.no_int8)
    print(f"wrote {out} ({json.loads((out / MANIFEST).read_text())['export_seconds']} s)")


if __name__ == "__main__":
    main()
