/*{
    "DESCRIPTION": "Host test: the waveform on the top row, the spectrum on the bottom",
    "INPUTS": [
        {"NAME": "wave", "TYPE": "audio", "MAX": 8},
        {"NAME": "spectrum", "TYPE": "audioFFT", "MAX": 4}
    ]
}*/

void main() {
    float x = isf_FragNormCoord.x;
    if (isf_FragNormCoord.y > 0.5) {
        gl_FragColor = vec4(IMG_NORM_PIXEL(wave, vec2(x, 0.5)).r * 0.5 + 0.5, 0.0, 0.0, 1.0);
    } else {
        float bin = floor(x * IMG_SIZE(spectrum).x) + 0.5;
        gl_FragColor = vec4(0.0, IMG_PIXEL(spectrum, vec2(bin, 0.5)).r, 0.0, 1.0);
    }
}
