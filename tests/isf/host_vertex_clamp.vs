varying vec2 clamped;

// Per-vertex clamping is only right when the vertices sit on the picture's corners.
void main() {
    isf_vertShaderInit();
    clamped = clamp(isf_FragNormCoord, 0.0, 1.0);
}
