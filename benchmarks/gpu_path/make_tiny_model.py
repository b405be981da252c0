"""A tiny random Llama with SmolLM2's tokenizer and chat template: exercises the GPU code path."""
import shutil, sys
from pathlib import Path
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
src = Path(sys.argv[1]); out = Path(sys.argv[2])
tok = AutoTokenizer.from_pretrained(src)
cfg = LlamaConfig(vocab_size=len(tok), hidden_size=128, intermediate_size=344, num_hidden_layers=4,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True,
    initializer_range=0.3, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
torch.manual_seed(0)
model = LlamaForCausalLM(cfg).eval()
model.save_pretrained(out, safe_serialization=True)
tok.save_pretrained(out)
print(sum(p.numel() for p in model.parameters()))
