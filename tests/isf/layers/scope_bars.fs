/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Layer test generator: the spectrum in red, the waveform in green, by column",
    "CATEGORIES": ["Test", "Generator"],
    "INPUTS": [
        {"NAME": "fft", "TYPE": "audioFFT", "MAX": 64},
        {"NAME": "wave", "TYPE": "audio", "MAX": 64}
    ]
}*/

void main() {
    float x = isf_FragNormCoord.x;
    float level = IMG_NORM_PIXEL(fft, vec2(x, 0.5)).r;
    float sample_ = IMG_NORM_PIXEL(wave, vec2(x, 0.5)).r;
    gl_FragColor = vec4(level, sample_ * 0.5 + 0.5, 0.0, 1.0);
}
