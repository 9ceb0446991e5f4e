"""Training and evaluation on what postmix builds: SFT, DPO and GRPO on TRL, PEFT and Accelerate."""
