"""Helper around torch.onnx.export that always uses the legacy TorchScript exporter."""
import inspect

import torch


def export_legacy(model, example, path, opset, input_names=("input",), output_names=("logits",)):
    kwargs = dict(
        opset_version=opset,
        input_names=list(input_names),
        output_names=list(output_names),
        dynamic_axes={input_names[0]: {0: "batch"}, output_names[0]: {0: "batch"}},
        do_constant_folding=True,
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, (example,), path, **kwargs)
