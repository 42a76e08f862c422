/*{
    "DESCRIPTION": "Host test: the built-ins as colours, one quadrant each",
    "PASSES": [{"TARGET": "first", "WIDTH": 8, "HEIGHT": 4}, {}]
}*/

void main() {
    vec2 at = isf_FragNormCoord;
    if (PASSINDEX == 0) {
        gl_FragColor = vec4(RENDERSIZE / 255.0, float(PASSINDEX) / 255.0, 1.0);
    } else if (at.y > 0.5 && at.x < 0.5) {
        gl_FragColor = IMG_NORM_PIXEL(first, vec2(0.5));
    } else if (at.y > 0.5) {
        gl_FragColor = vec4(RENDERSIZE / 255.0, float(PASSINDEX) / 255.0, 1.0);
    } else if (at.x < 0.5) {
        gl_FragColor = vec4(TIME / 10.0, TIMEDELTA * 10.0, float(FRAMEINDEX) / 255.0, 1.0);
    } else {
        gl_FragColor = vec4(DATE.y / 255.0, DATE.z / 255.0, DATE.w / 86400.0, 1.0);
    }
}
